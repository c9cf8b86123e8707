/**
 * The apt repository and a real upgrade, under a booted systemd: `npm run apt-repo` (with a
 * throwaway key) served over HTTP from a namespace of ours, added in Debian 12 with the README's
 * two commands, `apt install wsnic` by name; an index altered after signing is refused; then a
 * newer version joins the repository and `apt upgrade` runs while the relay serves a client.
 */
import t from 'tap';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { Container, rootfsTarball, until } from './container';
import { ROOT, Topology } from '../e2e/topology';

const lastLine = (s: string): string => s.trim().split('\n').pop()!;
const BASE = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const NEXT = `${BASE}+upgrade1`;
const HOST_ADDR = '198.19.9.1';
const URL = `http://${HOST_ADDR}:8080/`;
/** The README's stand-in for the repository's URL. */
const README_URL = 'https://apt.example.org/wsnic/';
const APT_REPO = join(ROOT, 'packaging', 'apt-repo.sh');
/** The package is Architecture: any, built for this machine's architecture (the container's too). */
const ARCH = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();

/** The commands the README gives for adding the repository: its section's first code block. */
function readmeCommands(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.split('\n## Install from the apt repository\n')[1]?.split('\n## ')[0] ?? '';
  const block = /\n\n((?: {4}.*\n)+)/.exec(section)?.[1] ?? '';
  return block.split('\n').map((l) => l.trim()).filter(Boolean);
}

/** packaging/build-deb.sh into dir, as version (package.json's when undefined); resolves with the .deb. */
async function buildDeb(dir: string, version?: string): Promise<string> {
  const env = { ...process.env, WSNIC_DEB_OUT: dir, ...(version ? { WSNIC_DEB_VERSION: version } : {}) };
  const { stdout } = await promisify(execFile)(join(ROOT, 'packaging', 'build-deb.sh'), [], { env, maxBuffer: 64 << 20 });
  return lastLine(stdout);
}

t.test('the apt repository: install by name, a tampered index refused, an upgrade under a connected client', async (t) => {
  const topo = new Topology();
  t.teardown(() => topo.cleanup());
  // The two packages build (in their own staging dirs) while the container boots.
  const debs = Promise.all([buildDeb(topo.dir), buildDeb(topo.dir, NEXT)]);
  debs.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
  const tarball = rootfsTarball();
  const host = topo.ns('host');
  const booting = Container.boot({ tarball, hostNs: host, hostIf: 'ct0', hostAddr: `${HOST_ADDR}/24`, containerAddr: '198.19.9.2/24', name: `${topo.prefix}ct` });
  booting.catch(() => undefined);
  t.teardown(async () => (await booting.catch(() => undefined))?.stop());
  const [v1, v2] = await debs;
  t.match(v2, new RegExp(`wsnic_${NEXT.replace(/[.+]/g, '\\$&')}_${ARCH}\\.deb$`), 'build-deb.sh builds another version on request');
  t.match(readFileSync(join(ROOT, 'package.json'), 'utf8'), `"version": "${BASE}"`, 'and leaves package.json alone');

  await t.test('upgrades restart wsnic.service alone; removal stops everything (maintainer scripts)', async (t) => {
    const ctl = join(topo.dir, 'control');
    execFileSync('dpkg-deb', ['-e', v2, ctl]);
    const script = (name: string): string => (existsSync(join(ctl, name)) ? readFileSync(join(ctl, name), 'utf8') : '');
    const invokes = (s: string): string[] => s.split('\n').filter((l) => /deb-systemd-invoke/.test(l)).map((l) => l.trim());
    t.same(invokes(script('postinst')), ["deb-systemd-invoke try-restart 'wsnic.service' >/dev/null || true"], 'postinst: try-restart of the relay only');
    t.match(script('postinst'), /if \[ -n "\$2" \]; then\n\s*deb-systemd-invoke try-restart/, 'only on upgrade (not on first install)');
    t.same(invokes(script('preinst')), [], 'preinst stops nothing');
    t.same(invokes(script('prerm')).length, 1);
    t.match(script('prerm'), /if \[ "\$1" = "remove" \][^\n]*\n\tdeb-systemd-invoke stop /, 'prerm stops the units on remove only, not on upgrade');
    t.notMatch(script('postrm'), /userdel|deluser/, 'purge deletes no user (Debian keeps system users)');
    t.equal(execFileSync('dpkg-deb', ['-f', v2, 'Architecture'], { encoding: 'utf8' }).trim(), ARCH, 'built for this machine\'s architecture');
  });

  const repo = join(topo.dir, 'repo');
  const aptRepo = (args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; stdout: string; stderr: string } => {
    const r = spawnSync(APT_REPO, args, { encoding: 'utf8', env: { ...process.env, WSNIC_APT_DIR: repo, WSNIC_APT_URL: URL, ...env } });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  await t.test('npm run apt-repo: refuses without a key; with one, a signed repository and a sources file', async (t) => {
    const refused = aptRepo([v1], { WSNIC_APT_KEY: '' });
    t.not(refused.code, 0);
    t.match(refused.stderr, /no signing key: set WSNIC_APT_KEY/, 'says what to give');
    t.notOk(existsSync(repo), 'and makes nothing');

    const made = aptRepo(['--throwaway-key', v1]);
    t.equal(made.code, 0, made.stderr);
    t.equal(lastLine(made.stdout), repo, 'prints the directory last');
    const dist = join(repo, 'dists', 'stable');
    t.ok(existsSync(join(repo, 'pool', 'main', 'w', 'wsnic', `wsnic_${BASE}_${ARCH}.deb`)), 'the .deb in the pool');
    t.ok(existsSync(join(dist, 'main', `binary-${ARCH}`, 'Packages.gz')));
    t.match(readFileSync(join(dist, 'Release'), 'utf8'), new RegExp(`SHA256:\n(?: \\w+ +\\d+ main/binary-${ARCH}/Packages(?:\\.gz)?\n){2}`), 'Release: the indices\' hashes');
    t.match(readFileSync(join(dist, 'InRelease'), 'utf8'), /^-----BEGIN PGP SIGNED MESSAGE-----/);
    t.match(readFileSync(join(dist, 'Release.gpg'), 'utf8'), /^-----BEGIN PGP SIGNATURE-----/);
    t.match(readFileSync(join(repo, 'wsnic-archive-keyring.asc'), 'utf8'), /^-----BEGIN PGP PUBLIC KEY BLOCK-----/);
    t.match(readFileSync(join(repo, 'wsnic.sources'), 'utf8'), new RegExp(`\nURIs: ${URL}\nSuites: stable\nComponents: main\n[^]*\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n \\.\n`));
    t.notOk(readdirSync(repo).some((f) => /gnupg|private/.test(f)), 'no key material in what is served');
    t.equal(spawnSync('pgrep', ['-f', `gpg-agent.*${repo}\\.gnupg`]).status, 1, 'the throwaway key\'s gpg-agent is gone');
  });

  const ct = await booting;
  const sh = (cmd: string, timeoutMs = 60_000): { code: number | null; stdout: string; stderr: string } => ct.exec(['sh', '-c', cmd], { timeoutMs });
  const apt = (cmd: string): { code: number | null; out: string } => {
    const r = sh(`DEBIAN_FRONTEND=noninteractive ${cmd} 2>&1`, 180_000);
    return { code: r.code, out: r.stdout };
  };
  const version = (): string => sh("dpkg-query -W -f='${Version}' wsnic").stdout;
  const show = (unit: string, prop: string): string => sh(`systemctl show -p ${prop} --value ${unit}`).stdout.trim();
  const journal = (): Record<string, string>[] =>
    sh('journalctl -u wsnic.service -o json --no-pager').stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, string>);
  const server = topo.spawn(host, 'python3', ['-u', '-m', 'http.server', '--bind', HOST_ADDR, '--directory', repo, '8080']);
  await server.waitFor(/Serving HTTP/);
  // This container has no way to Debian's mirrors (and needs none: wsnic's dependencies are in
  // its tree); with them listed, `apt update` would fail on them rather than on ours.
  sh('mkdir -p /root/apt-off && mv /etc/apt/sources.list /etc/apt/sources.list.d/* /root/apt-off/ 2>/dev/null; true');

  await t.test('the README\'s two commands add the repository; apt install wsnic by name', async (t) => {
    const cmds = readmeCommands();
    t.equal(cmds.length, 2, `two commands: ${cmds.join(' && ')}`);
    t.match(cmds[0], /^wget -O \/etc\/apt\/sources\.list\.d\/wsnic\.sources /);
    t.equal(cmds[1], 'apt update');
    for (const cmd of cmds.map((c) => c.replace(README_URL, URL))) {
      const r = apt(cmd);
      t.equal(r.code, 0, `${cmd}: ${r.out}`);
      t.notMatch(r.out, /^(W|E|Err):/m, `${cmd}: no warning or error`);
    }
    const install = apt('apt install -y wsnic');
    t.equal(install.code, 0, install.out);
    t.equal(version(), BASE);
    t.match(sh('apt-cache policy wsnic').stdout, `*** ${BASE} 500\n        500 ${URL.replace(/\/$/, '')} stable/main ${ARCH} Packages`, 'from our repository');
    const v = sh('wsnic --version');
    t.equal(v.stdout, `wsnic ${BASE}\n`, v.stderr);
    t.equal(sh('systemctl is-enabled wsnic.socket wsnic-tls.socket').stdout, 'disabled\ndisabled\n', 'installing enables nothing');
    // Documentation= names what the package installs.
    for (const unit of ['wsnic.service', 'wsnic.socket', 'wsnic-tls.socket', 'wsnic-bridge.service', 'wsnic-dnsmasq.service']) {
      const docs = show(unit, 'Documentation').split(' ').map((d) => d.replace(/^"(.*)"$/, '$1')); // systemctl quotes "man:wsnic(1)"
      t.same(docs, ['man:wsnic(1)', 'file:/usr/share/doc/wsnic/README.md.gz'], `${unit} Documentation=`);
    }
    t.equal(sh('ls /usr/share/doc/wsnic/README.md.gz /usr/share/man/man1/wsnic.1.gz').code, 0, 'both exist');
    t.match(sh('zcat /usr/share/man/man1/wsnic.1.gz').stdout, /README\.md\.gz/, 'the man page points at it too');
  });

  // The admin's state before the upgrade: the relay serving a client, the socket enabled,
  // wsnic-tls.socket left disabled, wsnic.conf edited, a drop-in of their own for dnsmasq.
  sh('chmod 0666 /dev/net/tun'); // as udev does on a real host (see package.test.ts)
  t.equal(sh('systemctl enable --now wsnic.socket').code, 0);
  const edits = {
    '/etc/wsnic/wsnic.conf': `${sh('cat /etc/wsnic/wsnic.conf').stdout}\n# the admin's own\nidle_timeout = 120\n`,
    '/etc/wsnic/dnsmasq.d/README': `${sh('cat /etc/wsnic/dnsmasq.d/README').stdout}# read by the admin\n`,
    '/etc/wsnic/dnsmasq.d/local.conf': 'host-record=relay.wsnic.test,192.168.86.1\n',
  };
  for (const [file, text] of Object.entries(edits)) ct.exec(['sh', '-c', 'cat > "$1"', 'sh', file], { input: text });
  const c1 = topo.connect(host, 'ws://198.19.9.2:8086/', ['--tap', 'wsn0']);
  await c1.waitFor(/connected url=/, 30_000);
  const lease = topo.dhcp(host, 'wsn0');
  t.match(lease.ip, /^192\.168\.86\./, 'a client with a lease');
  const before = {
    pid: await until('the relay\'s main PID', () => { const p = show('wsnic.service', 'MainPID'); return p !== '0' && p; }),
    bridgeSince: show('wsnic-bridge.service', 'ActiveEnterTimestampMonotonic'),
    dnsmasq: show('wsnic-dnsmasq.service', 'MainPID'),
    ifindex: sh('cat /sys/class/net/wsbr0/ifindex').stdout.trim(),
  };

  await t.test('the newer version joins the repository; a Packages altered after signing is refused', async (t) => {
    const added = aptRepo(['--throwaway-key', v2]);
    t.equal(added.code, 0, added.stderr);
    const bin = join(repo, 'dists', 'stable', 'main', `binary-${ARCH}`);
    const packages = readFileSync(join(bin, 'Packages'), 'utf8');
    t.match(packages, `Version: ${BASE}\n`, 'both versions listed');
    t.match(packages, `Version: ${NEXT}\n`);
    const gz = readFileSync(join(bin, 'Packages.gz'));
    const forged = packages.replace(`Version: ${NEXT}\n`, 'Version: 99.0\n');
    writeFileSync(join(bin, 'Packages'), forged);
    writeFileSync(join(bin, 'Packages.gz'), gzipSync(forged));
    const update = apt('apt update');
    t.not(update.code, 0, 'apt update fails');
    t.match(update.out, /Hash Sum mismatch|unexpected size/, update.out);
    t.notMatch(sh('apt-cache policy wsnic').stdout, /99\.0|upgrade1/, 'nothing from the forged index');
    t.equal(apt('apt-get install --only-upgrade -y wsnic').code, 0);
    t.equal(version(), BASE, 'nothing upgraded');
    writeFileSync(join(bin, 'Packages'), packages);
    writeFileSync(join(bin, 'Packages.gz'), gz);
  });

  await t.test('apt upgrade with a client connected: the new relay, the same lease, the admin\'s files and unit states kept', async (t) => {
    const update = apt('apt update');
    t.equal(update.code, 0, update.out);
    t.match(sh('apt-cache policy wsnic').stdout, `Candidate: ${NEXT}`);
    const mark = c1.mark();
    const upgrade = apt('apt upgrade -y');
    t.equal(upgrade.code, 0, upgrade.out);
    t.notMatch(upgrade.out, /Configuration file/, 'no conffile prompt');
    t.equal(version(), NEXT);
    const v = sh('wsnic --version');
    t.equal(v.stdout, `wsnic ${NEXT}\n`, v.stderr);

    for (const [file, text] of Object.entries(edits)) t.equal(sh(`cat ${file}`).stdout, text, `${file} kept`);
    t.equal(sh('find /etc/wsnic -name "*.dpkg-*"').stdout, '', 'no .dpkg-new/.dpkg-dist/.dpkg-old');

    const pid = await until('a new relay', () => { const p = show('wsnic.service', 'MainPID'); return p !== '0' && p !== before.pid && p; }, 30_000);
    const started = await until(`the new relay's listening line with version=${NEXT}`,
      () => journal().find((e) => e._PID === pid && /listening on an inherited socket name=ws /.test(e.MESSAGE ?? '')), 30_000);
    t.match(started.MESSAGE, `version=${NEXT}`, `PID ${before.pid} -> ${pid}, runs ${NEXT}`);
    t.equal(sh('systemctl is-enabled wsnic.socket wsnic-tls.socket').stdout, 'enabled\ndisabled\n', 'enabled stays enabled, disabled stays disabled');
    t.equal(sh('systemctl is-active wsnic.socket wsnic-tls.socket').stdout, 'active\ninactive\n');
    t.equal(show('wsnic-bridge.service', 'ActiveEnterTimestampMonotonic'), before.bridgeSince, 'the bridge unit was not restarted');
    t.equal(sh('cat /sys/class/net/wsbr0/ifindex').stdout.trim(), before.ifindex, 'the same wsbr0');
    t.equal(show('wsnic-dnsmasq.service', 'MainPID'), before.dnsmasq, 'the same dnsmasq');

    // The upgrade's try-restart hands the client over (README: Restarts and upgrades keep clients).
    t.ok(journal().some((e) => /sessions resumed after a restart resumed=1 failed=0/.test(e.MESSAGE ?? '')), 'the new relay took the client over');
    t.notMatch(c1.output().slice(mark), /disconnected|connected url=/, 'the client saw no close');
    const again = topo.dhcp(host, 'wsn0');
    t.equal(again.ip, lease.ip, 'with its lease');
    t.match(topo.exec(host, 'busybox', ['ping', '-c', '1', '-W', '2', '192.168.86.1']).stdout, /1 packets received/, 'through the new relay');
    t.match(topo.exec(host, 'busybox', ['nslookup', 'relay.wsnic.test', '192.168.86.1']).stdout, /Name:\s+relay\.wsnic\.test\s+Address:\s*192\.168\.86\.1/, 'the admin\'s dnsmasq drop-in still applies');
  });

  await t.test('a source written by hand from the published key, not our wsnic.sources, works the same', async (t) => {
    // The one-line format and a key file, as a user who never saw wsnic.sources would write it.
    sh('rm /etc/apt/sources.list.d/wsnic.sources');
    const get = sh(`wget -qO /etc/apt/keyrings/wsnic.asc ${URL}wsnic-archive-keyring.asc`);
    t.equal(get.code, 0, get.stderr);
    sh(`echo "deb [signed-by=/etc/apt/keyrings/wsnic.asc] ${URL} stable main" > /etc/apt/sources.list.d/own.list`);
    const update = apt('apt update');
    t.equal(update.code, 0, update.out);
    t.notMatch(update.out, /^(W|E|Err):/m, 'no warning or error');
    t.match(sh('apt-cache policy wsnic').stdout, `*** ${NEXT} 500\n        500 ${URL.replace(/\/$/, '')} stable/main ${ARCH} Packages`);
    t.match(sh('apt-cache madison wsnic').stdout, new RegExp(`wsnic \\|\\s+${BASE.replace(/\./g, '\\.')} \\|`), 'the older version is still there');
  });
});
