/** Developer tool: writes packaging/wsnic.conf and prints the README table, from the schema. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderTable, renderTemplate } from '../config/template';
import { exampleRuleset } from '../net/nftables';

const root = join(__dirname, '..', '..');
writeFileSync(join(root, 'packaging', 'wsnic.conf'), renderTemplate());
writeFileSync(join(root, 'nftables', 'wsnic.nft'), exampleRuleset());
process.stdout.write(`${renderTable()}\n`);
