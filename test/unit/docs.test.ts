/**
 * The documents say what the code does: the generated files are current, the man pages name every
 * verb, option and key, the README keeps its two commands, and no link points at nothing.
 */
import t from 'tap';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { generatedFiles, PER_VERB } from '../../src/docs/generated';
import { esc } from '../../src/docs/roff';
import { firstSentence, withTree, BEGIN, END } from '../../src/docs/tree';
import { VERBS } from '../../src/cli/help';
import { schema, envName, longFlag } from '../../src/config/schema';

const root = join(__dirname, '..', '..');
const read = (path: string): string => readFileSync(join(root, path), 'utf8');

t.test('every generated file in the checkout is what `npm run gen` makes now', async (t) => {
  const files = generatedFiles(root);
  t.same([...files.keys()].sort(), ['docs/architecture.md', 'docs/configuration.md', 'nftables/wsnic.nft', 'packaging/wsnic.8', 'packaging/wsnic.conf', 'packaging/wsnic.conf.5']);
  for (const [path, text] of files) t.ok(read(path) === text, `${path} is current (if not: npm run gen, and commit it)`);
});

t.test('wsnic(8) has every verb the command line takes, and each verb\'s own options', async (t) => {
  const page = read('packaging/wsnic.8');
  // main.ts takes its verbs from VERBS; a verb added there without a line here fails this.
  t.match(read('src/cli/main.ts'), /const verbs = VERBS\.map\(\(v\) => v\.name\);/, 'main.ts\'s verbs are VERBS');
  t.same(VERBS.map((v) => v.name), ['run', 'relay', 'setup', 'teardown', 'connect', 'health', 'status', 'disconnect', 'forward']);
  const commands = page.split('\n.SH COMMANDS\n')[1]?.split('\n.SH ')[0] ?? '';
  for (const v of VERBS) {
    t.ok(commands.includes(`.TP\n.B ${esc(v.name)}\n`), `COMMANDS has ${v.name}`);
    t.ok(page.includes(esc(v.synopsis)), `SYNOPSIS has ${v.synopsis}`);
  }
  for (const { verbs, options } of PER_VERB) {
    for (const o of options) t.ok(page.includes(`.B ${esc(o.long)}`), `${verbs}: ${o.long}`);
  }
  for (const e of schema) t.ok(page.includes(esc(longFlag(e.key))), `the flag of ${e.key}`);
  t.match(page, /README\.md\.gz/, 'it points at the README the package installs');
});

t.test('wsnic.conf(5) has every key with its default, flag and environment variable', async (t) => {
  const page = read('packaging/wsnic.conf.5');
  for (const e of schema) {
    const at = page.indexOf(`.TP\n.B ${esc(e.key)} = `);
    t.ok(at >= 0, `${e.key} has its entry`);
    const body = page.slice(at, page.indexOf('\n.TP\n', at + 1) >>> 0 || undefined);
    t.ok(body.includes(e.default === '' ? 'Default: empty.' : `Default: ${esc(e.default)}.`), `${e.key}'s default`);
    t.ok(body.includes(esc(longFlag(e.key))) && body.includes(esc(envName(e.key))), `${e.key}'s flag and variable`);
  }
});

t.test('roff text: hyphens and backslashes escaped, no line taken for a request', async (t) => {
  t.equal(esc('--ws-port'), '\\-\\-ws\\-port');
  t.equal(esc('a\\b'), 'a\\eb');
  t.equal(esc('.not a macro\n\'nor this'), '\\&.not a macro\n\\&\'nor this');
  t.equal(esc('run `wsnic status`'), 'run \\fBwsnic status\\fR');
});

t.test('the tree: a file\'s first sentence, cut at a word; the markers are required', async (t) => {
  t.equal(firstSentence('/** One thing. Another. */\ncode'), 'One thing.');
  t.equal(firstSentence('#!/usr/bin/env node\n/**\n * Spread over\n * lines: yes.\n */'), 'Spread over lines: yes.');
  t.equal(firstSentence('// not a block comment\n'), '');
  t.equal(firstSentence('/*\n * A table:  a.c      the one\n *             b.c      the other.\n */'), 'A table: a.c the one b.c the other.', 'runs of spaces are one');
  const long = firstSentence(`/** ${'word '.repeat(40)}end. */`);
  t.ok(long.length <= 100 && long.endsWith(' …'), long);
  t.equal(withTree(`a\n${BEGIN}\nold\n${END}\nb`, 'new'), `a\n${BEGIN}\nnew\n${END}\nb`);
  t.throws(() => withTree('no markers', 'x'), /markers/);
});

t.test('the README: its two commands, short, for users', async (t) => {
  const readme = read('README.md');
  const TEST = 'packaging/install-deps.sh --test && npm ci && npm test';
  t.ok(readme.includes(`\n    ${TEST}\n`), 'the test command, as a command of its own');
  t.ok(read('.ci/run').includes(`\n${TEST} `), '.ci/run runs that same command');
  t.ok(readme.includes('\n    packaging/install-deps.sh && npm ci && npm start\n'), 'the command that runs wsnic');
  // test/system/repo.test.ts runs the apt section's first block in a booted Debian 12.
  const apt = readme.split('\n## Install from the apt repository\n')[1]?.split('\n## ')[0] ?? '';
  t.match(/\n\n((?: {4}.*\n)+)/.exec(apt)?.[1] ?? '', /^ {4}wget -O \/etc\/apt\/sources\.list\.d\/wsnic\.sources .*\n {4}apt update\n$/, 'the apt section starts with the two commands repo.test.ts runs');
  t.ok(readme.split('\n').length <= 250, `at most 250 lines (${readme.split('\n').length})`);
  t.notMatch(readme, /^Options \(each is also a wsnic\.conf key/m, 'no --help dump: that is wsnic(8)');
  t.notMatch(readme, /^\| `container` \|/m, 'no configuration table: that is docs/configuration.md');
});

t.test('every relative link in the README and docs/ points at a file there is', async (t) => {
  const docs = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  for (const doc of docs) {
    for (const [, target] of read(doc).matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;
      t.ok(existsSync(join(root, dirname(doc), target!)), `${doc} -> ${target}`);
    }
  }
});
