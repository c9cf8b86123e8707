/**
 * The source tree in docs/architecture.md: every file under src/ and native/ with the first
 * sentence of its leading comment, between two markers that `npm run gen` rewrites. So the tree
 * shown is the tree there is, and a file's own comment says what it is.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const BEGIN = '<!-- tree:begin (npm run gen writes this block from the files\' leading comments) -->';
export const END = '<!-- tree:end -->';
const WIDTH = 100;
const SOURCE = /\.(ts|c|h)$/;

/** The first sentence of a file's leading block comment, cut at a word to fit. */
export function firstSentence(text: string): string {
  const m = /^(?:#!.*\n)?\s*\/\*\*?([\s\S]*?)\*\//.exec(text);
  if (!m) return '';
  const flat = m[1]!.split('\n').map((l) => l.replace(/^\s*\*\s?/, '').trim()).filter(Boolean).join(' ').replace(/\s+/g, ' ');
  const end = flat.search(/\.(\s|$)/);
  const s = end >= 0 ? flat.slice(0, end + 1) : flat;
  if (s.length <= WIDTH) return s;
  return `${s.slice(0, s.lastIndexOf(' ', WIDTH - 2))} …`;
}

function walk(root: string, dir: string, depth: number, out: string[]): void {
  for (const name of readdirSync(join(root, dir)).sort()) {
    const rel = join(dir, name);
    if (name === 'build' || name === 'node_modules' || name.startsWith('.')) continue;
    const pad = '  '.repeat(depth);
    if (statSync(join(root, rel)).isDirectory()) {
      out.push(`${pad}${name}/`);
      walk(root, rel, depth + 1, out);
    } else if (SOURCE.test(name)) {
      const what = firstSentence(readFileSync(join(root, rel), 'utf8'));
      out.push(`${`${pad}${name}`.padEnd(28)}${what}`.trimEnd());
    }
  }
}

/** The tree of src/ and native/ under root, as a fenced block. */
export function sourceTree(root: string): string {
  const out: string[] = [];
  for (const top of ['src', 'native']) {
    out.push(`${top}/`);
    walk(root, top, 1, out);
  }
  return ['```', ...out, '```'].join('\n');
}

/** The document with the block between the markers replaced by the tree; throws if a marker is missing. */
export function withTree(doc: string, tree: string): string {
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  if (a < 0 || b < a) throw new Error(`docs/architecture.md: the markers ${BEGIN} and ${END} are missing`);
  return `${doc.slice(0, a + BEGIN.length)}\n${tree}\n${doc.slice(b)}`;
}
