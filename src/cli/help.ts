/** `wsnic --help`, from the verbs below and the schema; the man page wsnic(8) is made from the same (src/docs/). */
import { flagHelp, type ExtraOption } from '../config/flags';

/** A verb as the usage shows it: its synopsis and one line of what it does. */
export interface Verb {
  readonly name: string;
  readonly synopsis: string;
  readonly doc: string;
}

export const VERBS: readonly Verb[] = [
  { name: 'run', synopsis: 'wsnic [run] [options]', doc: 'bridge, NAT, dnsmasq and the relay in the foreground (Ctrl-C undoes it all)' },
  { name: 'relay', synopsis: 'wsnic relay [options]', doc: 'the relay alone, for wsnic.service (sockets from wsnic.socket, bridge from setup)' },
  { name: 'setup', synopsis: 'wsnic setup [options]', doc: 'create the bridge, load the nftables ruleset, write the dnsmasq config; exit' },
  { name: 'teardown', synopsis: 'wsnic teardown [options]', doc: 'remove what setup created' },
  { name: 'connect', synopsis: 'wsnic connect URL [options]', doc: 'join a wsnic network from this host: a TAP relayed to ws(s)://HOST:PORT/' },
  { name: 'health', synopsis: 'wsnic health [options]', doc: 'exit 0 if the relay answers on its ws:// port (the container\'s HEALTHCHECK)' },
  { name: 'status', synopsis: 'wsnic status [CLIENT] [--json]', doc: 'the relay and every client (or one: an id, IP, MAC or TAP), like wg show' },
  { name: 'disconnect', synopsis: 'wsnic disconnect CLIENT [--reason TEXT]', doc: 'close that client (1008), logged with who asked' },
  { name: 'forward', synopsis: 'wsnic forward [list|add SPEC|remove SPEC]', doc: 'the relay\'s port forwards; a change lasts until the relay stops' },
];

export const TITLE = 'WebSocket-to-Ethernet relay for browser PC emulators (v86, jor1k)';

const USAGE = `wsnic - ${TITLE}

Usage:
${VERBS.map((v) => `  ${v.synopsis.padEnd(27)}  ${v.doc}`).join('\n')}

Options (each is also a wsnic.conf key and a WSNIC_<KEY> environment variable):
`;

/** The whole --help text: usage, then every option from the schema. */
export function help(extra: ExtraOption[]): string {
  return `${USAGE}${flagHelp(extra)}\n`;
}
