/** `wsnic --help`, from the schema (the README shows it and a test checks that it matches). */
import { flagHelp, type ExtraOption } from '../config/flags';

const USAGE = `wsnic - WebSocket-to-Ethernet relay for browser PC emulators (v86, jor1k)

Usage:
  wsnic [run] [options]        bridge, NAT, dnsmasq and the relay in the foreground (Ctrl-C undoes it all)
  wsnic relay [options]        the relay alone, for wsnic.service (sockets from wsnic.socket, bridge from setup)
  wsnic setup [options]        create the bridge, load the nftables ruleset, write the dnsmasq config; exit
  wsnic teardown [options]     remove what setup created
  wsnic connect URL [options]  join a wsnic network from this host: a TAP relayed to ws(s)://HOST:PORT/
  wsnic health [options]       exit 0 if the relay answers on its ws:// port (the container's HEALTHCHECK)
  wsnic status [CLIENT] [--json]  the relay and every client (or one: an id, IP, MAC or TAP), like wg show
  wsnic disconnect CLIENT [--reason TEXT]  close that client (1008), logged with who asked

Options (each is also a wsnic.conf key and a WSNIC_<KEY> environment variable):
`;

/** The whole --help text: usage, then every option from the schema. */
export function help(extra: ExtraOption[]): string {
  return `${USAGE}${flagHelp(extra)}\n`;
}

