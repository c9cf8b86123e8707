/** The shipped wsnic.conf and the README's configuration table, both from the schema. Pure. */
import { schema, envName, longFlag, type Entry } from './schema';

export function renderTemplate(): string {
  const out = [
    '# /etc/wsnic/wsnic.conf: wsnic configuration (one `key = value` per line, no sections).',
    '# Every key shows its default. Environment variables WSNIC_<KEY> and command-line flags',
    '# override this file; see `wsnic --help`.',
    '',
  ];
  for (const e of schema as readonly Entry[]) {
    out.push(`# ${e.doc}`);
    if (e.aliases) out.push(`# (also accepted as ${e.aliases.join(', ')})`);
    out.push(`${e.key} = ${e.default}`, '');
  }
  return out.join('\n');
}

export function renderTable(): string {
  const rows = (schema as readonly Entry[]).map((e) => {
    const flags = [e.short ? `-${e.short}` : '', longFlag(e.key)].filter(Boolean).join(', ');
    const env = [envName(e.key), ...(e.env ?? []).map((x) => `${x.name}${x.invert ? ' (inverted)' : ''}`)].join(', ');
    return `| \`${e.key}\` | \`${e.default}\` | ${flags} | ${env} | ${e.doc.replace(/\|/g, '\\|')} |`;
  });
  return ['| key | default | flag | environment | meaning |', '| --- | --- | --- | --- | --- |', ...rows].join('\n');
}
