/** Developer tool: writes packaging/wsnic.conf and prints the README table, from the schema. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderTable, renderTemplate } from '../config/template';

writeFileSync(join(__dirname, '..', '..', 'packaging', 'wsnic.conf'), renderTemplate());
process.stdout.write(`${renderTable()}\n`);
