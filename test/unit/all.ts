/**
 * Every unit test in one process, for `npm run test:unit`: node-tap starts each file in a process
 * of its own (TypeScript loader included), about 3 s apiece here; these need no such isolation.
 * `npm test` still runs each *.test.ts on its own.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

for (const file of readdirSync(__dirname).filter((f) => f.endsWith('.test.ts')).sort()) require(join(__dirname, file));
