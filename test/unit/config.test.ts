import t from 'tap';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, parseConfFile } from '../../src/config/load';
import { parseArgs } from '../../src/config/flags';
import { deriveNetwork } from '../../src/config/derive';
import { renderTable, renderTemplate } from '../../src/config/template';
import { schema } from '../../src/config/schema';

const dir = mkdtempSync(join(tmpdir(), 'wsnic-unit-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const conf = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const none = join(dir, 'absent.conf');
/** What the container image sets. */
const CT = { WSNIC_CONTAINER: '1' };

t.test('defaults are the original wsnic\'s', async (t) => {
  const { config } = loadConfig({ defaultFile: none });
  t.equal(config.ws_address, '127.0.0.1');
  t.equal(config.ws_port, 8086);
  t.equal(config.wss_port, 8087);
  t.equal(config.enable_inet, false);
  t.equal(config.subnet, '192.168.86.0/24');
  t.equal(config.disable_dhcp, false);
  t.equal(config.dhcp_lease_time, 86400);
  t.same(config.dhcp_nameserver, []);
  t.equal(config.bridge, 'wsbr0');
  t.equal(config.tap_prefix, 'wstap');
});

t.test('the image\'s WSNIC_CONTAINER=1: every address, ws:// on 80 and wss:// on 443, below file, environment and flags', async (t) => {
  const { config, notices } = loadConfig({ defaultFile: none, env: CT, exists: () => false });
  t.equal(config.ws_address, '0.0.0.0');
  t.equal(config.ws_port, 80);
  t.equal(config.wss_port, 443);
  t.equal(config.wss_certificate, '', 'no certificate mounted: no wss://');
  t.same(notices, ['no certificate at /opt/wsnic/cert/cert.crt: wss:// is off, serving ws:// only'], 'and one line says so');
  const file = conf('ct.conf', 'ws_port = 8080\n');
  const mounted = loadConfig({ file, env: { ...CT, WSNIC_WSS_PORT: '8443' }, flags: parseArgs(['-a', '10.0.0.1']).flags, exists: () => false }).config;
  t.same([mounted.ws_port, mounted.wss_port, mounted.ws_address], [8080, 8443, '10.0.0.1'], 'a mounted wsnic.conf, WSNIC_* and flags win');
  t.equal(loadConfig({ defaultFile: none, exists: () => true }).config.wss_certificate, '', 'without WSNIC_CONTAINER: nothing of this');
});

t.test('with WSNIC_CONTAINER=1 a certificate mounted at /opt/wsnic/cert turns wss:// on', async (t) => {
  const certOnly = (p: string): boolean => p === '/opt/wsnic/cert/cert.crt';
  const both = loadConfig({ defaultFile: none, env: CT, exists: () => true });
  t.same([both.config.wss_certificate, both.config.wss_private_key, both.notices], ['/opt/wsnic/cert/cert.crt', '/opt/wsnic/cert/cert.key', []]);
  const one = loadConfig({ defaultFile: none, env: CT, exists: certOnly }).config;
  t.same([one.wss_certificate, one.wss_private_key], ['/opt/wsnic/cert/cert.crt', ''], 'no cert.key: the certificate file holds the key');
  const keyOnly = loadConfig({ defaultFile: none, env: CT, exists: (p) => p.endsWith('cert.key') });
  t.same([keyOnly.config.wss_certificate, keyOnly.config.wss_private_key], ['', ''], 'a key without a certificate is no wss://, and no error');
  const own = loadConfig({ defaultFile: none, env: { ...CT, WSNIC_WSS_CERTIFICATE: '/etc/wsnic/c.pem' }, exists: () => true }).config;
  t.same([own.wss_certificate, own.wss_private_key], ['/etc/wsnic/c.pem', ''], 'a configured certificate does not get the mounted key');
  const off = loadConfig({ defaultFile: none, env: { ...CT, WSNIC_WSS_CERTIFICATE: '' }, exists: () => true });
  t.equal(off.config.wss_certificate, '', 'WSNIC_WSS_CERTIFICATE= turns wss:// off even with a mounted certificate');
});

t.test('file < environment < flags, with the original wsnic\'s names', async (t) => {
  const file = conf('a.conf', '# comment\nws_port = 9000\nsubnet=10.1.0.0/16\nwss_server_cert = "/etc/c.pem"\n\nenable_inet = yes # NAT on\n');
  const env = { WSNIC_WS_PORT: '9001', WSNIC_ENABLE_DHCP: '0', WSNIC_DHCP_DOMAIN_NAME_SERVER: '1.1.1.1, 9.9.9.9' };
  const { config, file: read } = loadConfig({ file, env, flags: parseArgs(['--ws-port', '9002', '-t', '600']).flags });
  t.equal(read, file);
  t.equal(config.ws_port, 9002, 'flag wins');
  t.equal(config.subnet, '10.1.0.0/16', 'file value kept');
  t.equal(config.wss_certificate, '/etc/c.pem', 'alias and quotes');
  t.equal(config.enable_inet, true, 'inline comment dropped');
  t.equal(config.disable_dhcp, true, 'WSNIC_ENABLE_DHCP=0 disables DHCP');
  t.same(config.dhcp_nameserver, ['1.1.1.1', '9.9.9.9']);
  t.equal(config.dhcp_lease_time, 600);
});

t.test('WSNIC_ENABLE_HOSTNET turns NAT on; -i and --disable-dhcp are switches', async (t) => {
  t.equal(loadConfig({ defaultFile: none, env: { WSNIC_ENABLE_HOSTNET: '1' } }).config.enable_inet, true);
  const { config } = loadConfig({ defaultFile: none, flags: parseArgs(['-i', '--disable-dhcp', '-f', 'eth1']).flags });
  t.equal(config.enable_inet, true);
  t.equal(config.disable_dhcp, true);
  t.equal(config.inet_iface, 'eth1');
});

t.test('an invalid value names the key, the source and what is allowed', async (t) => {
  const file = conf('bad.conf', 'ws_port = 8086\n\nsubnet = 10.0.0.0/33\n');
  t.throws(() => loadConfig({ file }), new ConfigError(`${file} line 3: subnet '10.0.0.0/33' is not an IPv4 CIDR prefix (e.g. 192.168.86.0/24)`));
  t.throws(() => loadConfig({ defaultFile: none, env: { WSNIC_WS_PORT: '70000' } }), { message: "environment WSNIC_WS_PORT: ws_port '70000' is not a port from 1 to 65535" });
  t.throws(() => loadConfig({ defaultFile: none, flags: parseArgs(['--enable-inet=maybe']).flags }), { message: /flag --enable-inet: enable_inet 'maybe' is not a boolean/ });
  t.throws(() => loadConfig({ defaultFile: none, flags: parseArgs(['-s', '192.168.86.1/24']).flags }), { message: /host bits set; the network is 192\.168\.86\.0\/24/ });
  t.throws(() => loadConfig({ defaultFile: none, flags: parseArgs(['--bridge', 'a-name-far-too-long']).flags }), { message: /flag --bridge: bridge .* is not an interface name/ });
  t.throws(() => loadConfig({ defaultFile: none, flags: parseArgs(['-d', '1.2.3']).flags }), { message: /dhcp_nameserver '1\.2\.3' is not an IPv4 address/ });
  t.throws(() => parseArgs(['--no-such-flag']), { message: 'unknown flag --no-such-flag (see --help)' });
  t.throws(() => loadConfig({ file: join(dir, 'missing.conf') }), { message: /missing\.conf not found/ });
  t.throws(() => parseConfFile('just words\n', 'x.conf', []), { message: "x.conf line 1: expected 'key = value', found 'just words'" });
});

t.test('unknown keys are warned about by name, not fatal', async (t) => {
  const file = conf('unknown.conf', 'ws_port = 8086\nws_prot = 1\n');
  const { warnings } = loadConfig({ file });
  t.same(warnings, [`${file} line 2: unknown key 'ws_prot' ignored`]);
});

t.test('derived addresses: bridge is the first host, the pool the rest', async (t) => {
  t.same(deriveNetwork({ subnet: '192.168.86.0/24', dhcp_nameserver: [] }), {
    bridgeAddress: '192.168.86.1', prefix: 24, netmask: '255.255.255.0', network: '192.168.86.0', broadcast: '192.168.86.255',
    poolStart: '192.168.86.2', poolEnd: '192.168.86.254', poolSize: 253, nameservers: ['192.168.86.1'],
  });
  const wide = deriveNetwork({ subnet: '10.64.0.0/18', dhcp_nameserver: ['9.9.9.9'] });
  t.equal(wide.poolEnd, '10.64.63.254');
  t.equal(wide.netmask, '255.255.192.0');
  t.equal(wide.poolSize, 16381);
  t.same(wide.nameservers, ['9.9.9.9']);
  const tiny = deriveNetwork({ subnet: '10.0.0.4/30', dhcp_nameserver: [] });
  t.equal(tiny.bridgeAddress, '10.0.0.5');
  t.equal(tiny.poolStart, '10.0.0.6');
  t.equal(tiny.poolEnd, '10.0.0.6');
});

t.test('the shipped wsnic.conf is the schema\'s defaults, and loads to them', async (t) => {
  const shipped = readFileSync(join(__dirname, '..', '..', 'packaging', 'wsnic.conf'), 'utf8');
  t.equal(shipped, renderTemplate(), 'packaging/wsnic.conf is generated from the schema (npm run gen)');
  const fromFile = loadConfig({ file: join(__dirname, '..', '..', 'packaging', 'wsnic.conf') });
  t.same(fromFile.warnings, []);
  t.same(fromFile.config, loadConfig({ defaultFile: none }).config);
  t.same(shipped.match(/^[a-z0-9_]+\s*=/gm), null, 'no key is set: an upgraded host gets new defaults');
  const lines = shipped.match(/^#[a-z0-9_]+ = .*$/gm) ?? [];
  t.same(lines.map((l) => l.slice(1).split(' ')[0]), schema.map((e) => e.key), 'every key is in the template, commented out');
  // Uncommented, each line must still load to the default it shows.
  const uncommented = loadConfig({ file: conf('uncommented.conf', lines.map((l) => l.slice(1)).join('\n')) });
  t.same(uncommented.config, fromFile.config, 'the commented values are the defaults');
});

t.test('the README documents every key as the schema does', async (t) => {
  const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
  t.ok(readme.includes(renderTable()), 'README table matches the schema (npm run gen prints it)');
});

t.test('the README shows `wsnic --help` as it is', async (t) => {
  const { help } = await import('../../src/cli/help');
  const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
  t.ok(readme.includes(`\`\`\`\n${help([])}\`\`\``), 'README --help block is current (node dist/cli/main.js --help)');
});

t.test('--version is package.json\'s version, read when the code loads', async (t) => {
  const { VERSION } = await import('../../src/version');
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
  t.equal(VERSION, pkg.version);
  t.equal(parseArgs(['--version']).version, true);
  t.equal(parseArgs(['connect', '--version']).version, true, 'any verb');
  t.equal(parseArgs([]).version, false);
});

t.test("a command's own option wins over the wsnic.conf flag of the same name (connect --mtu is its TAP's)", async (t) => {
  // connect's two (not its module: that loads ws before the unit run patches it)
  const own = [{ long: '--mtu', meta: 'BYTES', doc: '' }, { long: '--tap', meta: 'NAME', doc: '' }];
  const a = parseArgs(['ws://h/', '--mtu', '65521', '--tap', 'x0'], own);
  t.equal(a.extras.get('--mtu'), '65521');
  t.equal(a.extras.get('--tap'), 'x0');
  t.same(a.flags, [], 'nothing for the mtu key');
  t.same(parseArgs(['--mtu', '9000']).flags, [{ key: 'mtu', raw: '9000', source: 'flag --mtu' }], 'without the command, the key');
});
