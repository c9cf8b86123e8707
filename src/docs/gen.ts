/** Developer tool (`npm run gen`): writes every generated file (generated.ts) into the checkout. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatedFiles } from './generated';

const root = join(__dirname, '..', '..');
for (const [path, text] of generatedFiles(root)) {
  writeFileSync(join(root, path), text);
  process.stdout.write(`${path}\n`);
}
