/**
 * Every file `npm run gen` writes, with what it must hold now: the shipped wsnic.conf and
 * reference ruleset, docs/configuration.md, the two man pages, and the tree in
 * docs/architecture.md. gen.ts writes them; a unit test checks the committed ones equal these.
 */
// connect.ts loads ws, which takes its masking functions when it loads: patch them first, as
// main.ts does (a test process that loads this and later tests ws must see the addon's).
import '../datapath/wsmask';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderTemplate } from '../config/template';
import { exampleRuleset } from '../net/nftables';
import { CONNECT_OPTIONS } from '../cli/connect';
import { STATUS_OPTIONS } from '../cli/status';
import { configurationMd } from './configuration';
import { wsnic8, wsnicConf5, type VerbOptions } from './man';
import { sourceTree, withTree } from './tree';

/** The verbs with options of their own, as main.ts hands them to parseArgs. */
export const PER_VERB: readonly VerbOptions[] = [
  { verbs: 'connect', options: CONNECT_OPTIONS },
  { verbs: 'status and disconnect', options: STATUS_OPTIONS },
];

export function generatedFiles(root: string): Map<string, string> {
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  const architecture = readFileSync(join(root, 'docs', 'architecture.md'), 'utf8');
  return new Map([
    ['packaging/wsnic.conf', renderTemplate()],
    ['nftables/wsnic.nft', exampleRuleset()],
    ['docs/configuration.md', configurationMd()],
    ['packaging/wsnic.8', wsnic8(version, PER_VERB)],
    ['packaging/wsnic.conf.5', wsnicConf5(version)],
    ['docs/architecture.md', withTree(architecture, sourceTree(root))],
  ]);
}
