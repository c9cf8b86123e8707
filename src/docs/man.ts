/**
 * The man pages wsnic(8) and wsnic.conf(5), made from what the program itself knows: the verbs and
 * options of `wsnic --help` (cli/help.ts, config/flags.ts) and the configuration schema. Pure:
 * `npm run gen` writes them to packaging/, and a unit test checks the committed ones are current.
 */
import { flagRows, type ExtraOption } from '../config/flags';
import { schema, envName, longFlag, containerDefault, type Entry } from '../config/schema';
import { DEFAULT_CONFIG_FILE } from '../config/load';
import { TITLE, VERBS } from '../cli/help';
import { esc, example, section, tagged, title } from './roff';

/** Each verb's own options, as the command line takes them (main.ts passes the same to parseArgs). */
export interface VerbOptions {
  readonly verbs: string;
  readonly options: readonly ExtraOption[];
}

const FILES = [
  tagged(DEFAULT_CONFIG_FILE, 'The configuration, read by every verb when it exists (another with -c FILE); see wsnic.conf(5).'),
  tagged('/etc/wsnic/dnsmasq.d/', 'Extra dnsmasq options (*.conf), added to the generated configuration (the dnsmasq_conf_dir key).'),
  tagged('/run/wsnic/', 'runtime_dir: the rendered nftables ruleset (wsnic.nft) and dnsmasq configuration, and the leases.'),
  tagged('/run/systemd/network/00-wsnic.network', 'Written by `wsnic setup` where systemd-networkd could see wsnic\'s links, removed by `wsnic teardown`: networkd leaves the bridge, its leaves and the client TAPs alone.'),
  tagged('/run/wsnic-relay/control.sock', 'The control socket of `wsnic status` and `wsnic disconnect` (the control_socket key).'),
];

const SEE_ALSO = [
  '.BR wsnic.conf (5),',
  '.BR dnsmasq (8),',
  '.BR nft (8),',
  '.BR systemd.socket (5),',
  '.BR tcpdump (8)',
  '.PP',
  esc('/usr/share/doc/wsnic/README.md.gz; operating, security and architecture notes in docs/ of the source tree.'),
];

/** "the relay alone, ..." -> "The relay alone, ...": a verb's usage line as a sentence. */
function sentence(text: string): string {
  const s = text.charAt(0).toUpperCase() + text.slice(1);
  return s.endsWith('.') ? s : `${s}.`;
}

export function wsnic8(version: string, perVerb: readonly VerbOptions[]): string {
  const general = flagRows().slice(0, 4);
  const keys = flagRows().slice(4);
  return [
    title('wsnic', 8, version, 'System Administration'),
    section('NAME', esc(`wsnic - ${TITLE}`)),
    section('SYNOPSIS', VERBS.map((v) => esc(v.synopsis)).join('\n.br\n')),
    section('DESCRIPTION',
      esc('wsnic relays raw Ethernet frames between WebSocket clients (the v86 and jor1k emulators in a browser, or `wsnic connect` on another host) and a Linux bridge. Each binary WebSocket message is one frame. Each client gets a TAP device of its own on the bridge, dnsmasq(8) serves DHCP and DNS on the bridge, and with enable_inet NAT gives the clients the outside world. An nftables ruleset keeps each client to its own MAC and leased address and away from the host\'s networks.'),
      '.PP',
      esc('Under systemd the work is split into units: wsnic-bridge.service runs `wsnic setup` and `wsnic teardown`, wsnic-dnsmasq.service runs dnsmasq, and wsnic.service runs `wsnic relay` on the sockets of wsnic.socket (ws://), wsnic-tls.socket (wss://) and wsnic-metrics.socket. Without systemd, `wsnic run` does all of it in one foreground process.')),
    section('COMMANDS', ...VERBS.map((v) => tagged(v.name, sentence(v.doc)))),
    section('OPTIONS',
      esc('Every configuration key is also a flag and a WSNIC_<KEY> environment variable. Flags override the environment, which overrides the configuration file, which overrides the defaults.'),
      '.SS General options',
      ...general.map(([f, d]) => tagged(f, d)),
      ...perVerb.flatMap((p) => [`.SS Options of ${esc(p.verbs)}`, ...flagRows(p.options.slice()).slice(4, 4 + p.options.length).map(([f, d]) => tagged(f, d))]),
      '.SS Configuration keys',
      esc('Each is described in wsnic.conf(5) under its key: the flag with the dashes made underscores.'),
      ...keys.map(([f, d]) => tagged(f, d))),
    section('SIGNALS',
      tagged('SIGINT, SIGTERM', '`wsnic run` and `wsnic relay` close every client (1001) and stop; `wsnic run` also stops dnsmasq and removes the bridge and the ruleset. Under systemd, a restart hands ws:// clients to the next relay (the restart_handover key).'),
      tagged('SIGHUP', '`wsnic run` and `wsnic relay` read the auth_tokens_file and the wss:// certificate again; clients stay (`systemctl reload wsnic`).')),
    section('EXIT STATUS', esc('0 on success; 2 when the configuration or the command line is invalid (the message names the key and where it came from); 70 when `wsnic run` or `wsnic relay` stops on an internal error; 1 on any other failure, also when `wsnic disconnect` matches no client and when `wsnic health` gets no 426 from the ws:// port within 3 s.')),
    section('EXAMPLES', example([
      'wsnic run -i                        # serve on 127.0.0.1:8086 with NAT',
      'wsnic status                        # the relay and every client',
      'wsnic status 192.168.86.23 --json   # one client, as JSON lines',
      'wsnic disconnect wstap3 --reason "abuse"',
      'wsnic connect ws://relay.example:8086/ --tap wsnic0',
    ])),
    section('FILES', ...FILES),
    section('SEE ALSO', ...SEE_ALSO),
    '',
  ].join('\n');
}

/** One key as wsnic.conf(5) lists it: `key = default`, its doc, and its other names. */
function keyEntry(e: Entry): string {
  const names = [
    `Flag: ${[e.short ? `-${e.short}` : '', longFlag(e.key)].filter(Boolean).join(', ')}.`,
    `Environment: ${[envName(e.key), ...(e.env ?? []).map((x) => `${x.name}${x.invert ? ' (inverted)' : ''}`)].join(', ')}.`,
    ...(e.aliases ? [`Also accepted as ${e.aliases.join(', ')}.`] : []),
  ];
  const dflt = e.default === '' ? 'Default: empty.' : `Default: ${e.default}.`;
  return [tagged(`${e.key} = ${e.kind === 'bool' ? '0|1' : e.meta ?? 'VALUE'}`, `${e.doc} ${dflt}${containerDefault(e)}`), '.br', esc(names.join(' '))].join('\n');
}

export function wsnicConf5(version: string): string {
  return [
    title('wsnic.conf', 5, version, 'File Formats'),
    section('NAME', esc('wsnic.conf - wsnic configuration file')),
    section('SYNOPSIS', esc(DEFAULT_CONFIG_FILE)),
    section('DESCRIPTION',
      esc('One `key = value` per line (`key: value` works too), no sections. A line starting with # or ; is a comment; an unquoted value ends before a # or ; that follows a space, so quote a value that contains one. Keys are case-insensitive.'),
      '.PP',
      esc('Sources, lowest to highest: the defaults below, this file (or the one given with -c FILE), the environment (WSNIC_<KEY>), the command line. An invalid value stops wsnic with the key, where it came from (file and line, variable or flag) and what is allowed; an unknown key is a warning.'),
      '.PP',
      esc('The file the package installs has every key commented out at its default: uncomment a line to change it. `wsnic setup` (wsnic-bridge.service) and `wsnic relay` (wsnic.service) read it when they start: after an edit, restart the unit the key concerns (wsnic-bridge.service for the bridge, subnet, DHCP and rules, which restarts the relay and dnsmasq too; wsnic.service for the relay\'s own keys).')),
    section('OPTIONS', ...(schema as readonly Entry[]).map(keyEntry)),
    section('DERIVED VALUES', esc('The bridge address is the subnet\'s first host; the DHCP pool is every host after it up to the last before broadcast.')),
    section('EXAMPLE', example([
      'ws_address = 0.0.0.0',
      'enable_inet = 1',
      'allowed_origins = https://emu.example.org',
      'max_clients_per_ip = 4',
    ])),
    section('SEE ALSO', '.BR wsnic (8),', ...SEE_ALSO.slice(1)),
    '',
  ].join('\n');
}
