/**
 * The container image, as the predecessor's users run it: `docker build -f docker/Dockerfile .`,
 * then its documented `docker run` line unchanged but for the image name and the certificate's
 * host paths. The engine is Debian's docker.io, private to this test (docker.ts): it builds in
 * the root namespace with no bridge and runs containers inside a namespace of the test, so
 * neither the host's firewall nor its interfaces change. The "Docker host" namespace routes to an
 * "internet" namespace; guests reach the published ports over their own links, as remote
 * browsers would.
 */
import t from 'tap';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Engine, ENGINE_WAIT_MS } from './docker';
import { ROOT, Topology, INTERNET, sh, type Proc } from '../e2e/topology';


// Each long step has a limit of its own, and the file's limit is their sum: a cold machine (no
// base tarball, no build cache) is slow, not a failure. Measured cold here, alone on 2 cores:
// base tarball 31 s, build 2 min 11 s (the build stage's apt-get 69 s, npm ci 23 s, the .deb
// 21 s; the image 15 s); the containers' subtests about 1 min.
const BASE_MS = 5 * 60_000;
const BUILD_MS = 12 * 60_000;
const RUN_MS = 5 * 60_000;
t.setTimeout(BASE_MS + 2 * ENGINE_WAIT_MS + BUILD_MS + RUN_MS);

/** The host's firewall, modules and forwarding (new namespaces inherit it): the same after the test. */
function hostState(): string {
  const nft = sh('nft', ['list', 'ruleset']);
  const forwarding = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
  return `${nft}\nbr_netfilter loaded: ${existsSync('/sys/module/br_netfilter')}\nip_forward: ${forwarding}`;
}

/** Extra CA certificates this machine trusts (a TLS-intercepting proxy's), for npm in the build stage. */
function extraCaCerts(): string {
  const dir = '/usr/local/share/ca-certificates';
  if (!existsSync(dir)) return '';
  return readdirSync(dir).filter((f) => f.endsWith('.crt')).map((f) => readFileSync(join(dir, f), 'utf8').trim()).join('\n');
}

t.test('the Docker image: built from docker/Dockerfile, run with the predecessor\'s line', async (t) => {
  const before = hostState();
  const topo = new Topology();
  let engine: Engine | undefined;
  t.teardown(async () => {
    await engine?.stop();
    await topo.cleanup();
  });

  // Build: the base image no registry can give, imported once per tarball, then the image.
  engine = await Engine.start(`${topo.prefix}b`);
  const imp = await engine.importBase(BASE_MS);
  if (imp) t.equal(imp.code, 0, `docker import: ${imp.stderr}`);
  // The classic builder (Debian 12 packages no buildx for the newer client). --network=host: this
  // engine has no bridge to give RUN steps a network of their own. The build stage is tagged so
  // that pruning the images a rebuild replaced keeps its cached layers.
  const buildArgs = ['--network=host', '--build-arg', `EXTRA_CA_CERTS=${extraCaCerts()}`, '-f', 'docker/Dockerfile'];
  const t0 = Date.now();
  for (const [target, tag] of [['build', 'wsnic-build:cache'], ['', 'wsnic:latest']] as const) {
    const args = ['build', ...(target ? ['--target', target] : []), '-t', tag, ...buildArgs, ROOT];
    const b = await engine.dockerAsync(args, { timeoutMs: t0 + BUILD_MS - Date.now(), env: { DOCKER_BUILDKIT: '0' } });
    t.equal(b.code, 0, `docker build ${tag}: ${b.stdout.slice(-3000)}${b.stderr.slice(-3000)}`);
    if (b.code !== 0) return;
  }
  engine.docker(['image', 'prune', '-f']);
  const size = Number(engine.docker(['image', 'inspect', '-f', '{{.Size}}', 'wsnic:latest']).stdout.trim());
  t.comment(`image built in ${Math.round((Date.now() - t0) / 1000)} s, ${Math.round(size / 1e6)} MB`);
  t.ok(size > 0 && size < 250e6, `wsnic:latest is ${Math.round(size / 1e6)} MB (the README reports it)`);
  const inImage = engine.docker(['run', '--rm', '--entrypoint', 'sh', 'wsnic:latest', '-c',
    'for c in node dnsmasq nft ip gcc cc g++ make npm node-gyp; do command -v $c >/dev/null && echo $c; done; node --version; wsnic --version']);
  t.same(inImage.stdout.trim().split('\n').slice(0, 4), ['node', 'dnsmasq', 'nft', 'ip'], 'the tools it runs, and nothing to build with');
  t.match(inImage.stdout, /^v18\./m, 'on Debian\'s own nodejs 18');
  t.match(inImage.stdout, /^wsnic \d+\.\d+\.\d+/m);
  await engine.stop();
  engine = undefined;

  // Run: the engine in the "Docker host" namespace, a guest on its own link, an internet behind it.
  const dhost = topo.ns('dhost');
  const inet = topo.ns('inet');
  const guest = topo.ns('g1');
  topo.link(dhost, 'uplink0', '198.18.0.1/24', inet, 'eth0', '198.18.0.2/24');
  topo.link(dhost, 'ctl1', '198.19.1.1/24', guest, 'ctl0', '198.19.1.2/24');
  sh('ip', ['-n', dhost, 'route', 'add', 'default', 'via', '198.18.0.2']);
  sh('ip', ['-n', inet, 'addr', 'add', `${INTERNET}/32`, 'dev', 'lo']);
  // No NAT on the Docker host (the engine runs without iptables): the internet routes back to docker0's network.
  sh('ip', ['-n', inet, 'route', 'add', '172.17.0.0/16', 'via', '198.18.0.1']);
  sh('ip', ['netns', 'exec', dhost, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  await topo.spawn(inet, process.execPath, ['-e', `require('http').createServer((q, s) => s.end(q.socket.remoteAddress.replace('::ffff:', ''))).listen(8080, () => console.log('http ready'))`]).waitFor(/http ready/);
  engine = await Engine.start(`${topo.prefix}r`, dhost);
  const docker = (args: string[]): Proc => topo.spawn(dhost, '/usr/bin/docker', args, engine!.env);
  const one = async (what: string, fn: () => string | false): Promise<string> => {
    for (let end = Date.now() + 20_000; ; await new Promise((r) => setTimeout(r, 200))) {
      const v = fn();
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    }
  };
  const running = (): Promise<string> => one('a running container', () => engine!.docker(['ps', '-q']).stdout.trim());

  t.test('the predecessor\'s docker run line: lease, DNS, gateway, NAT, wss://, health, docker stop', async (t) => {
    const { cert, key } = topo.selfSigned('relay', '198.19.1.1');
    // The documented line, but for the certificate's host paths (this test's own files).
    const run = docker(['run', '--rm', '-e', 'WSNIC_ENABLE_HOSTNET=1', '-e', 'WSNIC_DHCP_DOMAIN_NAME=v86.local',
      '-v', `${cert}:/opt/wsnic/cert/cert.crt`, '-v', `${key}:/opt/wsnic/cert/cert.key`,
      '-p', '8086:80', '-p', '8087:443', '--cap-add=NET_ADMIN', '--device', '/dev/net/tun:/dev/net/tun',
      '--sysctl', 'net.ipv4.ip_forward=1', 'wsnic:latest']);
    await run.waitFor(/listening url=wss:\/\/0\.0\.0\.0:443\//, 30_000);
    t.match(run.output(), /listening url=ws:\/\/0\.0\.0\.0:80\//, 'ws:// on 80, every address');
    t.match(run.output(), /bridge ready bridge=wsbr0 .*nat=eth0/, 'NAT out of the container\'s default route');
    t.notMatch(run.output(), /no certificate/);
    const id = await running();

    // A client nobody on wsnic wrote (python3-websockets bridging a TAP), through the published port.
    const py = topo.spawn(guest, '/usr/bin/python3', [join(ROOT, 'test', 'fixtures', 'rfc6455_tap.py'), 'ws://198.19.1.1:8086/', 'indep0']);
    await py.waitFor(/^connected/);
    const lease = topo.dhcp(guest, 'indep0', 'guest1');
    t.match(lease.ip, /^192\.168\.86\./, `lease in ${lease.ms} ms`);
    t.equal(lease.domain, 'v86.local', 'WSNIC_DHCP_DOMAIN_NAME');
    t.equal(lease.dns, '192.168.86.1');
    const ns = topo.exec(guest, 'busybox', ['nslookup', '-type=a', 'guest1.v86.local', '192.168.86.1']);
    t.match(ns.stdout, new RegExp(`Address:\\s*${lease.ip.replace(/\./g, '\\.')}\\s*$`, 'm'), `dnsmasq resolves the guest's name: ${ns.stdout}${ns.stderr}`);
    t.match(topo.exec(guest, 'busybox', ['ping', '-c', '2', '-W', '2', '192.168.86.1']).stdout, /2 packets received/, 'the gateway');
    const out = topo.httpGet(guest, `http://${INTERNET}:8080/`);
    t.equal(out.stdout, '172.17.0.2', `the outside through NAT sees the container's address ${out.stderr}`);

    // wss:// on 8087 with the mounted certificate, by wsnic's own client trusting just that certificate.
    const wss = topo.connect(guest, 'wss://198.19.1.1:8087/', ['--tap', 'wsn1', '--ca', cert]);
    await wss.waitFor(/connected url=wss:/);
    await run.waitFor(/client connected .*scheme=wss/);

    const health = engine!.docker(['exec', id, 'wsnic', 'health']);
    t.equal(health.code, 0, `wsnic health: ${health.stdout}${health.stderr}`);
    const status = await one('Docker\'s health status', () => {
      const s = engine!.docker(['inspect', '-f', '{{.State.Health.Status}}', id]).stdout.trim();
      return s !== 'starting' && s;
    }).catch((err: Error) => err.message);
    t.equal(status, 'healthy', 'the HEALTHCHECK');

    // docker stop: SIGTERM to PID 1. Clients get 1001, dnsmasq stops, exit 0 long before the 10 s SIGKILL.
    const mark = wss.mark();
    const t1 = Date.now();
    const stop = engine!.docker(['stop', id], { timeoutMs: 30_000 });
    const ms = Date.now() - t1;
    t.equal(stop.code, 0, stop.stderr);
    t.equal(await run.exited, 0, 'the container exited 0 (docker run passes its code on)');
    t.ok(ms < 5000, `docker stop took ${ms} ms (Docker kills after 10 s)`);
    await wss.waitFor(/disconnected, reconnecting .*code=1001/, 10_000, mark);
    const logs = run.output();
    t.match(logs, /stopping signal=SIGTERM/);
    t.match(logs, /client disconnected .*code=1001/);
    t.match(logs, /dnsmasq stopped/);
    t.match(logs, /bridge removed bridge=wsbr0/);
    t.match(logs, /^info: client connected client_address=\S+ /m, 'docker logs: the terminal\'s "level: message key=value" lines');

    // Nothing of it stays: no container, no process in its cgroup, no wsnic link anywhere we can see.
    t.equal(engine!.docker(['ps', '-aq']).stdout.trim(), '', 'no container left');
    const inCgroup = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cgroup`, 'utf8').includes(id);
      } catch {
        return false;
      }
    });
    t.same(inCgroup, [], 'no process of the container');
    for (const where of [[], ['-n', dhost]]) t.notMatch(sh('ip', [...where, '-o', 'link']), /wsbr0|wstap/, `no bridge or TAP ${where.join(' ') || 'on the host'}`);
  });

  t.test('least privilege: NET_ADMIN, and for dnsmasq NET_BIND_SERVICE, SETUID, SETGID, KILL; config mounted, any WSNIC_* key', async (t) => {
    // Only NET_ADMIN: the relay would run, but dnsmasq refuses to start, and says what it lacks.
    const bare = engine!.docker(['run', '--rm', '--cap-drop=ALL', '--cap-add=NET_ADMIN', '--device', '/dev/net/tun:/dev/net/tun', 'wsnic:latest'], { timeoutMs: 30_000 });
    t.not(bare.code, 0);
    t.match(bare.stderr, /dnsmasq exited .*missing required capability NET_BIND_SERVICE/, bare.stderr);

    const conf = topo.file('mounted.conf', 'subnet = 10.86.0.0/24\n');
    const run = docker(['run', '--rm', '--cap-drop=ALL', '--cap-add=NET_ADMIN', '--cap-add=NET_BIND_SERVICE', '--cap-add=SETUID', '--cap-add=SETGID', '--cap-add=KILL',
      '--device', '/dev/net/tun:/dev/net/tun', '-v', `${conf}:/etc/wsnic/wsnic.conf:ro`,
      '-e', 'WSNIC_DHCP_DOMAIN_NAME_SERVER=198.18.1.53', '-e', 'WSNIC_TAP_PREFIX=ctap', '-p', '8086:80', 'wsnic:latest']);
    await run.waitFor(/listening url=ws:\/\/0\.0\.0\.0:80\//, 30_000);
    t.match(run.output(), /no certificate at \/opt\/wsnic\/cert\/cert\.crt: wss:\/\/ is off, serving ws:\/\/ only/, 'one line says wss:// is off');
    t.notMatch(run.output(), /wss:\/\/0/);
    const client = topo.connect(guest, 'ws://198.19.1.1:8086/', ['--tap', 'wsn2']);
    await client.waitFor(/connected url=/);
    const lease = topo.dhcp(guest, 'wsn2');
    t.match(lease.ip, /^10\.86\.0\./, 'subnet from the mounted /etc/wsnic/wsnic.conf');
    t.equal(lease.dns, '198.18.1.53', 'WSNIC_DHCP_DOMAIN_NAME_SERVER (the predecessor\'s name)');
    t.match(await run.waitFor(/client connected /), /tap=ctap0/, 'WSNIC_TAP_PREFIX: any key is a variable');
    t.match(topo.exec(guest, 'busybox', ['ping', '-c', '1', '-W', '2', '10.86.0.1']).stdout, /1 packets received/);
    const id = await running();
    const t1 = Date.now();
    t.equal(engine!.docker(['stop', id], { timeoutMs: 30_000 }).code, 0);
    t.equal(await run.exited, 0, `stopped in ${Date.now() - t1} ms, exit 0`);
    t.match(run.output(), /dnsmasq stopped/, 'CAP_KILL: the relay can stop dnsmasq, which runs as nobody');
  });

  t.test('without dnsmasq, NET_ADMIN alone is enough', async (t) => {
    const run = docker(['run', '--rm', '--cap-drop=ALL', '--cap-add=NET_ADMIN', '--device', '/dev/net/tun:/dev/net/tun',
      '-e', 'WSNIC_ENABLE_DHCP=0', '-p', '8086:80', 'wsnic:latest']);
    await run.waitFor(/listening url=ws:\/\/0\.0\.0\.0:80\//, 30_000);
    const client = topo.connect(guest, 'ws://198.19.1.1:8086/', ['--tap', 'wsn3']);
    await client.waitFor(/connected url=/);
    t.match(await run.waitFor(/client connected /), /tap=wstap0/, 'the relay binds port 80 and makes a TAP');
    const id = await running();
    t.equal(engine!.docker(['stop', id], { timeoutMs: 30_000 }).code, 0);
    t.equal(await run.exited, 0);
  });

  t.test('a missing flag or a bad certificate stops the container at once, with one line naming it', async (t) => {
    const junk = topo.file('junk.crt', 'not a certificate\n');
    const cases: [string[], RegExp][] = [
      [[], /^error: this container has no CAP_NET_ADMIN and \/dev\/net\/tun: start it with --cap-add=NET_ADMIN --device \/dev\/net\/tun:\/dev\/net\/tun$/],
      [['--cap-add=NET_ADMIN'], /^error: this container has no \/dev\/net\/tun: start it with --device \/dev\/net\/tun:\/dev\/net\/tun$/],
      [['--device', '/dev/net/tun:/dev/net/tun'], /^error: this container has no CAP_NET_ADMIN: start it with --cap-add=NET_ADMIN$/],
      // A certificate that is not one, and one whose host file is missing (Docker mounts a directory).
      [['--cap-add=NET_ADMIN', '--device', '/dev/net/tun:/dev/net/tun', '-v', `${junk}:/opt/wsnic/cert/cert.crt`],
        /^error: wss_certificate \/opt\/wsnic\/cert\/cert\.crt \(no wss_private_key: the file must hold the key too\): not a usable certificate and key/],
      [['--cap-add=NET_ADMIN', '--device', '/dev/net/tun:/dev/net/tun', '-v', `${junk}.absent:/opt/wsnic/cert/cert.crt`],
        /^error: wss_certificate \/opt\/wsnic\/cert\/cert\.crt: is a directory, not a PEM file/],
      // /proc/sys is read-only in a container: forwarding for NAT must come with the container.
      [['--cap-add=NET_ADMIN', '--device', '/dev/net/tun:/dev/net/tun', '-e', 'WSNIC_ENABLE_HOSTNET=1', '--sysctl', 'net.ipv4.ip_forward=0'],
        /^error: cannot turn IPv4 forwarding on for NAT: \/proc\/sys is read-only \(a container\): start it with --sysctl net\.ipv4\.ip_forward=1$/],
    ];
    for (const [flags, want] of cases) {
      const t0 = Date.now();
      const r = engine!.docker(['run', '--rm', ...flags, 'wsnic:latest'], { timeoutMs: 30_000 });
      const errors = r.stderr.split('\n').filter((l) => l.startsWith('error: '));
      t.not(r.code, 0, `${flags.join(' ') || 'no flags'}: exits ${r.code} in ${Date.now() - t0} ms`);
      t.equal(errors.length, 1, `one error line: ${r.stderr}`);
      t.match(errors[0] ?? '', want);
    }
  });

  t.test('the engine leaves the host as it found it', async (t) => {
    await engine!.stop();
    engine = undefined;
    t.equal(hostState(), before, 'the host\'s nftables ruleset (iptables-nft included), modules and ip_forward are unchanged');
  });
});
