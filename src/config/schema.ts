/**
 * The one configuration schema. Every key's type, default, environment names, CLI flags and
 * doc live here; the loader, `--help`, the README table and the shipped wsnic.conf come from it
 * (or are checked against it by a test).
 */

export type Kind = 'bool' | 'int' | 'port' | 'string' | 'address' | 'listen' | 'path' | 'cidr' | 'ifname' | 'prefix' | 'ipv4list' | 'domain' | 'level' | 'choice' | 'list' | 'netlist' | 'egress' | 'forward';

interface KindValue {
  bool: boolean;
  int: number;
  port: number;
  string: string;
  address: string;
  /** HOST:PORT ([V6]:PORT), an absolute Unix socket path, or '' (off). */
  listen: string;
  path: string;
  cidr: string;
  ifname: string;
  prefix: string;
  ipv4list: string[];
  list: string[];
  netlist: string[];
  egress: string[];
  /** Port forward specs, each checked by parseForward. */
  forward: string[];
  domain: string;
  level: LogLevel;
  choice: string;
}

export type LogLevel = 'debug' | 'info' | 'warning' | 'error';

export interface Entry {
  readonly key: string;
  readonly kind: Kind;
  /** Default as it would be written in wsnic.conf ('' = unset). */
  readonly default: string;
  readonly doc: string;
  /** Other names accepted in the file (the original wsnic's README names). */
  readonly aliases?: readonly string[];
  /** Extra environment names; `invert` flips a boolean (WSNIC_ENABLE_DHCP vs disable_dhcp). */
  readonly env?: readonly { readonly name: string; readonly invert?: boolean }[];
  readonly short?: string;
  /** Placeholder in --help; booleans given as a flag take no value. */
  readonly meta?: string;
  readonly min?: number;
  readonly max?: number;
  /** The values a 'choice' key takes. */
  readonly choices?: readonly string[];
  /**
   * The default when `container` is on (the image sets WSNIC_CONTAINER=1): the predecessor's
   * layout; for a file, only when it exists there (a mounted certificate turns wss:// on).
   */
  readonly container?: string;
}

export const schema = [
  { key: 'container', kind: 'bool', default: '0',
    doc: 'Take the container image\'s defaults (the image sets WSNIC_CONTAINER=1): those marked "In a container" below.' },
  { key: 'ws_address', kind: 'address', default: '127.0.0.1', container: '0.0.0.0', short: 'a', meta: 'ADDR',
    doc: 'Address the ws:// and wss:// servers listen on; 0.0.0.0 for every interface.' },
  { key: 'ws_port', kind: 'port', default: '8086', container: '80', meta: 'PORT', doc: 'WebSocket server port (ws://).' },
  { key: 'wss_port', kind: 'port', default: '8087', container: '443', meta: 'PORT', doc: 'WebSocket Secure server port (wss://), served when wss_certificate is set.' },
  { key: 'wss_certificate', kind: 'path', default: '', container: '/opt/wsnic/cert/cert.crt', short: 'r', meta: 'FILE', aliases: ['wss_server_cert'],
    doc: 'PEM file with the server certificate (chain), or certificate and private key together; enables wss://.' },
  { key: 'wss_private_key', kind: 'path', default: '', container: '/opt/wsnic/cert/cert.key', short: 'k', meta: 'FILE', aliases: ['wss_server_key'],
    doc: 'PEM file with the private key, when wss_certificate holds only the certificate.' },
  { key: 'enable_inet', kind: 'bool', default: '0', short: 'i', env: [{ name: 'WSNIC_ENABLE_HOSTNET' }],
    doc: 'Give clients the outside world through NAT masquerading out of inet_iface.' },
  { key: 'inet_iface', kind: 'ifname', default: '', short: 'f', meta: 'IFACE',
    doc: 'Uplink interface for NAT; empty: the interface of the default route.' },
  { key: 'subnet', kind: 'cidr', default: '192.168.86.0/24', short: 's', meta: 'CIDR',
    doc: 'Client network: its first host is the bridge (gateway, DHCP and DNS server), the rest the DHCP pool.' },
  { key: 'disable_dhcp', kind: 'bool', default: '0', env: [{ name: 'WSNIC_ENABLE_DHCP', invert: true }],
    doc: 'Do not run dnsmasq (no DHCP or DNS on the bridge).' },
  { key: 'dhcp_lease_file', kind: 'path', default: '', meta: 'FILE',
    doc: 'dnsmasq lease database; empty: dnsmasq.leases in runtime_dir.' },
  { key: 'dhcp_lease_time', kind: 'int', default: '86400', short: 't', meta: 'SECONDS', min: 120, max: 31536000,
    doc: 'DHCP lease time in seconds.' },
  { key: 'dhcp_domain_name', kind: 'domain', default: '', short: 'n', meta: 'NAME',
    doc: 'Domain name announced in DHCP replies (and served by dnsmasq for leased hosts).' },
  { key: 'dhcp_nameserver', kind: 'ipv4list', default: '', short: 'd', meta: 'IPLIST', env: [{ name: 'WSNIC_DHCP_DOMAIN_NAME_SERVER' }],
    doc: 'Comma-separated DNS servers announced in DHCP replies; empty: the bridge address (dnsmasq).' },
  { key: 'dnsmasq_conf_dir', kind: 'path', default: '/etc/wsnic/dnsmasq.d', meta: 'DIR',
    doc: 'Directory of extra dnsmasq options (*.conf) added to the generated configuration, when it exists.' },
  { key: 'mtu', kind: 'int', default: '1500', meta: 'BYTES', min: 576, max: 65535,
    doc: 'MTU of the bridge (the gateway\'s side) announced by DHCP; client TAPs take frames up to 65,535 bytes regardless.' },
  { key: 'bridge', kind: 'ifname', default: 'wsbr0', meta: 'NAME', doc: 'Name of the bridge that joins every client.' },
  { key: 'bridge_port_limit', kind: 'int', default: '1000', meta: 'PORTS', min: 1, max: 1020,
    doc: 'Client ports on a bridge before a leaf bridge joined to it takes more (a bridge holds at most 1,023 ports).' },
  { key: 'tap_prefix', kind: 'prefix', default: 'wstap', meta: 'PREFIX', doc: 'Client TAP devices are named PREFIX0, PREFIX1, ...' },
  { key: 'runtime_dir', kind: 'path', default: '/run/wsnic', meta: 'DIR',
    doc: 'Where wsnic keeps its generated dnsmasq and nftables files and its state.' },
  { key: 'ping_interval', kind: 'int', default: '30', meta: 'SECONDS', min: 1, max: 86400,
    doc: 'Send a WebSocket PING to a client silent for this long.' },
  { key: 'idle_timeout', kind: 'int', default: '100', meta: 'SECONDS', min: 2, max: 86400,
    doc: 'Close a client silent (no frame, no PONG) for this long.' },
  { key: 'allowed_origins', kind: 'list', default: '', meta: 'PATTERNS',
    doc: 'Comma-separated Origin patterns a browser handshake must match (e.g. https://*.example.org); empty: any (warned about on a public address).' },
  { key: 'auth_tokens_file', kind: 'path', default: '', meta: 'FILE',
    doc: 'File of accepted tokens, one per line (reloaded on SIGHUP); clients give one as ?token=, a Sec-WebSocket-Protocol or Authorization: Bearer. Empty: no tokens.' },
  { key: 'max_clients', kind: 'int', default: '0', meta: 'N', min: 0, max: 1000000,
    doc: 'Most clients at once (503 beyond); 0: no limit.' },
  { key: 'max_clients_per_ip', kind: 'int', default: '0', meta: 'N', min: 0, max: 1000000,
    doc: 'Most clients at once from one address (429 beyond); 0: no limit.' },
  { key: 'handshake_timeout', kind: 'int', default: '10', meta: 'SECONDS', min: 1, max: 300,
    doc: 'A connection that has not completed its WebSocket handshake by then is dropped (slow-loris).' },
  { key: 'trusted_proxies', kind: 'netlist', default: '', meta: 'CIDRS',
    doc: 'Reverse proxies (addresses or CIDRs) whose X-Forwarded-For names the client for limits and logs.' },
  { key: 'bind_client_ip', kind: 'bool', default: '1',
    doc: 'A client may send ARP and IPv4 only from the address dnsmasq leased to its MAC (and DHCP before it has one); off when disable_dhcp is on.' },
  { key: 'client_ipv6', kind: 'bool', default: '0',
    doc: 'Let clients exchange IPv6 frames with each other (wsnic itself offers no IPv6), each only as a host (no router advertisements, no DHCPv6 server) and only from its own addresses (its link-local and those it claimed by DAD first); off: only IPv4 and ARP enter from a client.' },
  { key: 'egress_allow', kind: 'egress', default: '', meta: 'RULES',
    doc: 'Comma-separated exceptions to egress_deny (10.1.2.0/24, tcp:25, 10.0.0.5:tcp:22); those with an address also open it on the host itself.' },
  { key: 'egress_deny', kind: 'egress', default: 'host-networks, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, 169.254.0.0/16, tcp:25', meta: 'RULES',
    doc: 'Where clients may not go through NAT: CIDRs, tcp:PORT, udp:PORT, CIDR:tcp:PORT, and host-networks (every network on the host\'s interfaces).' },
  { key: 'forward', kind: 'forward', default: '', meta: 'SPECS',
    doc: 'Comma-separated port forwards to guests, keyed by MAC: tcp:2222>52:54:00:12:34:56:22 sends TCP port 2222 of every host address to port 22 of the guest with that MAC, wherever its lease and TAP are; udp:PORT>MAC:PORT likewise. Needs enable_inet. Not a port every client needs: ws_port, wss_port, or (with dnsmasq) 53 and udp 67.' },
  { key: 'isolate_clients', kind: 'bool', default: '0',
    doc: 'Clients reach the gateway, DHCP/DNS and the outside but not each other (bridge port isolation).' },
  { key: 'rate_up_bytes', kind: 'int', default: '0', meta: 'BYTES', min: 0, max: 10000000000,
    doc: 'Most bytes a second one client may send (frames over it are dropped and counted); 0: no limit.' },
  { key: 'rate_up_frames', kind: 'int', default: '0', meta: 'FRAMES', min: 0, max: 100000000,
    doc: 'Most frames a second one client may send (frames over it are dropped and counted); 0: no limit.' },
  { key: 'rate_down_bytes', kind: 'int', default: '0', meta: 'BYTES', min: 0, max: 10000000000,
    doc: 'Most bytes a second relayed to one client (frames over it are dropped and counted); 0: no limit.' },
  { key: 'rate_down_frames', kind: 'int', default: '0', meta: 'FRAMES', min: 0, max: 100000000,
    doc: 'Most frames a second relayed to one client (frames over it are dropped and counted); 0: no limit.' },
  { key: 'rate_burst', kind: 'int', default: '1', meta: 'SECONDS', min: 1, max: 60,
    doc: 'Seconds of traffic at the full rate a client may send or get at once before the rate_* limits bite.' },
  { key: 'duplicate_mac', kind: 'choice', default: 'allow', meta: 'allow|refuse', choices: ['allow', 'refuse'],
    doc: 'A client whose MAC another client already uses is logged (v86 state images share one MAC); refuse also closes it (1008).' },
  { key: 'data_path', kind: 'choice', default: 'native', meta: 'native|js', choices: ['native', 'js'],
    doc: 'How established ws:// sessions are relayed: native (the addon\'s own threads, off Node\'s event loop) or js (ws on the event loop, as wss:// always is).' },
  { key: 'data_threads', kind: 'int', default: '0', meta: 'N', min: 0, max: 64,
    doc: 'Threads of the native data path; 0: one per CPU core.' },
  { key: 'restart_handover', kind: 'bool', default: '1',
    doc: 'On a restart by systemd (systemctl restart, a package upgrade), hand every ws:// client to the next relay through systemd\'s fd store: its connection, TAP and address stay; 0: close every client (1001), as a stop does.' },
  { key: 'control_socket', kind: 'path', default: '', meta: 'PATH',
    doc: 'Unix socket (mode 0660, group wsnic) where the relay answers `wsnic status` and `wsnic disconnect`; empty: control.sock in runtime_dir with -relay added (/run/wsnic-relay/control.sock).' },
  { key: 'metrics_address', kind: 'listen', default: '', meta: 'HOST:PORT',
    doc: 'Where to serve Prometheus metrics at /metrics (e.g. 127.0.0.1:9586, or a Unix socket path), or a socket systemd passes named metrics; empty: off.' },
  { key: 'log_level', kind: 'level', default: 'info', meta: 'LEVEL',
    doc: 'debug, info, warning or error (-v is debug, -q is warning).' },
] as const satisfies readonly Entry[];

type Schema = typeof schema;
export type Key = Schema[number]['key'];
export type Config = { [E in Schema[number] as E['key']]: KindValue[E['kind']] };

/** The environment name of a key: WSNIC_ and the key in capitals. */
export function envName(key: string): string {
  return `WSNIC_${key.toUpperCase()}`;
}

/** The long CLI flag of a key: -- and the key with dashes. */
export function longFlag(key: string): string {
  return `--${key.replace(/_/g, '-')}`;
}

/** " In a container: X." for keys with a container default (README table, template and --help). */
export function containerDefault(e: Entry): string {
  if (e.container === undefined) return '';
  return ` In a container: ${e.container}${e.kind === 'path' ? ' (when that file exists)' : ''}.`;
}

export function entry(key: string): Entry | undefined {
  return (schema as readonly Entry[]).find((e) => e.key === key || e.aliases?.includes(key));
}
