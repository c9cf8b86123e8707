/** The little of roff(7) the man pages need: escaping text and the man(7) macros. Pure. */

/**
 * Text as roff prints it: backslashes and hyphens escaped, no line starting with a control dot,
 * and `code` (as the schema's docs write a command) in bold.
 */
export function esc(text: string): string {
  const s = text.replace(/\\/g, '\\e').replace(/-/g, '\\-').replace(/`([^`]+)`/g, '\\fB$1\\fR');
  return s.replace(/^([.'])/gm, '\\&$1');
}

/** `.TH`: the page's title line. The date is left empty: the page must not change by the day it is made. */
export function title(name: string, section: number, version: string, manual: string): string {
  return `.TH ${name.toUpperCase()} ${section} "" "wsnic ${version}" "${manual}"`;
}

/** A tagged paragraph: the tag in bold, then the text. */
export function tagged(tag: string, text: string): string {
  return `.TP\n.B ${esc(tag)}\n${esc(text)}`;
}

/** A section heading and its body lines. */
export function section(name: string, ...body: string[]): string {
  return [`.SH ${name}`, ...body].join('\n');
}

/** A block shown as typed (an example), unfilled. */
export function example(lines: string[]): string {
  return ['.PP', '.nf', '.RS 4', ...lines.map(esc), '.RE', '.fi'].join('\n');
}
