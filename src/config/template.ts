/** The shipped wsnic.conf and the README's configuration table, both from the schema. Pure. */
import { schema, envName, longFlag, containerDefault, type Entry } from './schema';

/**
 * Every key commented out at its default, as Debian's conffiles usually are: what the admin
 * uncomments is theirs, and a default changed in a later version reaches a host that kept the rest.
 */
export function renderTemplate(): string {
  const out = [
    '# /etc/wsnic/wsnic.conf: wsnic configuration (one `key = value` per line, no sections).',
    '# Every key is shown commented out, at its default: uncomment a line to change it.',
    '# Environment variables WSNIC_<KEY> and command-line flags override this file; see `wsnic --help`.',
    '',
  ];
  for (const e of schema as readonly Entry[]) {
    out.push(`# ${e.doc}${containerDefault(e)}`);
    if (e.aliases) out.push(`# (also accepted as ${e.aliases.join(', ')})`);
    out.push(`#${e.key} = ${e.default}`, '');
  }
  return out.join('\n');
}

export function renderTable(): string {
  const rows = (schema as readonly Entry[]).map((e) => {
    const flags = [e.short ? `-${e.short}` : '', longFlag(e.key)].filter(Boolean).join(', ');
    const env = [envName(e.key), ...(e.env ?? []).map((x) => `${x.name}${x.invert ? ' (inverted)' : ''}`)].join(', ');
    return `| \`${e.key}\` | \`${e.default}\` | ${flags} | ${env} | ${`${e.doc}${containerDefault(e)}`.replace(/\|/g, '\\|')} |`;
  });
  return ['| key | default | flag | environment | meaning |', '| --- | --- | --- | --- | --- |', ...rows].join('\n');
}
