/**
 * A real browser as a wsnic client: Debian's Chromium, driven by playwright-core, inside a guest
 * namespace. Its page builds an ARP request and a DHCPDISCOVER in JS, sends each as one binary
 * WebSocket message, and parses the ARP reply and the DHCPOFFER the relay hands back, over ws://
 * and over wss:// (a self-signed certificate trusted by its key alone). A page served over https
 * reaches wss:// but may not open ws:// (mixed content): that is why wss matters.
 */
import t from 'tap';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { relayNetwork, ROOT, Topology } from './topology';

const CHROMIUM = '/usr/bin/chromium';
const DRIVER = join(ROOT, 'test', 'fixtures', 'chromium-driver.js');


/** base64 of the SHA-256 of the certificate's SubjectPublicKeyInfo, as Chromium's SPKI list wants. */
function spkiHash(certFile: string): string {
  const der = new X509Certificate(readFileSync(certFile)).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('base64');
}

interface ArpReply { op: number; dst: string; src: string; senderMac: string; senderIp: string; targetMac: string; targetIp: string }

interface ProbeResult {
  url: string;
  page: string;
  opened: boolean;
  constructError: string | null;
  error: boolean;
  close: { code: number; reason: string } | null;
  binaryType: string | null;
  sent: number;
  received: number;
  textReceived: number;
  arp: ArpReply | null;
  arpReplies: ArpReply[];
  offer: {
    dst: string; src: string; ipSrc: string; ipDst: string; ipChecksumOk: boolean; sport: number; dport: number;
    chaddr: string; yiaddr: string; siaddr: string; messageType: number;
    serverId: string | null; router: string | null; mask: string | null; dns: string | null;
  } | null;
  ms: number;
}

interface CaseLine {
  event: 'case';
  name: string;
  pageUrl: string;
  secureContext: boolean;
  result: ProbeResult;
  console: string[];
}

const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent: install Debian's chromium (packaging/install-deps.sh --test) to run the browser test`;
if (skip) console.error(`# SKIPPING the Chromium test: ${skip}`);

t.test('Chromium as a client: ARP and DHCP from a web page over ws:// and wss://, mixed content', { skip }, async (t) => {
  const scratch = new Topology();
  t.teardown(() => scratch.cleanup());
  const relayCert = scratch.selfSigned('relay', '198.19.1.1');
  const pageCert = scratch.selfSigned('page', '127.0.0.1');
  const untrusted = scratch.selfSigned('untrusted', '127.0.0.1');

  const n = await relayNetwork(t.teardown.bind(t), { wss_certificate: relayCert.cert, wss_private_key: relayCert.key }, 1);
  await n.server.waitFor(/listening url=wss:\/\/0\.0\.0\.0:8087\//);
  const g = n.guests[0]!;
  const bridgeMac = n.topo.exec(n.srv, 'cat', ['/sys/class/net/wsbr0/address']).stdout.trim();
  t.match(bridgeMac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/, 'the bridge has a MAC');
  const srvLinks = n.topo.exec(n.srv, 'ip', ['-br', 'link']).stdout;
  /** Which of the relay namespace's interfaces has this MAC (for a failure's diagnostics). */
  const owner = (mac: string): string => srvLinks.split('\n').find((l) => l.includes(` ${mac} `))?.split(/\s+/)[0] ?? 'none in the relay namespace';

  const cases = [
    { name: 'ws', page: 'http', url: n.url(1, 'ws'), mac: '02:00:00:00:00:01' },
    { name: 'wss', page: 'http', url: n.url(1, 'wss'), mac: '02:00:00:00:00:02' },
    { name: 'https page, wss', page: 'https', url: n.url(1, 'wss'), mac: '02:00:00:00:00:03' },
    { name: 'https page, ws', page: 'https', url: n.url(1, 'ws'), mac: '02:00:00:00:00:04' },
  ];
  const config = {
    profile: join(n.topo.dir, 'chromium-profile'),
    pageCert: pageCert.cert,
    pageKey: pageCert.key,
    untrustedCert: untrusted.cert,
    untrustedKey: untrusted.key,
    // Trusted: the relay's key and the page server's key, nothing else.
    spki: [spkiHash(relayCert.cert), spkiHash(pageCert.cert)],
    timeoutMs: 8000,
    settleMs: 300,
    guardMs: 50_000,
    cases,
  };
  // Chromium aborts requests with ERR_NETWORK_CHANGED when an address in its namespace changes,
  // and the guest link's IPv6 link-local address leaves "tentative" (DAD) 1-2 s after it came up:
  // start the browser once that is over.
  const dad = Date.now();
  for (const deadline = Date.now() + 5000; Date.now() < deadline;) {
    if (n.topo.exec(g, 'ip', ['-6', 'addr', 'show', 'tentative']).stdout.trim() === '') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const t0 = Date.now();
  // The driver runs in the guest namespace and so does the browser it launches (a child of it).
  const driver = n.topo.spawn(g, process.execPath, [DRIVER, JSON.stringify(config)]);
  const end = await driver.waitFor(/^\{"event":"(done|error)"/, 55_000);
  const lines = driver.output().split('\n').filter((l) => l.startsWith('{"event":')).map((l) => JSON.parse(l) as { event: string });
  t.notMatch(end, /"event":"error"/, 'the driver finished', { output: driver.output() });
  const ready = lines.find((l) => l.event === 'ready') as { version: string; launchMs: number } | undefined;
  t.comment(`waited ${t0 - dad} ms for DAD; Chromium ${ready?.version} launched in ${ready?.launchMs} ms; driver done ${Date.now() - t0} ms after its start`);
  const byName = new Map(lines.filter((l): l is CaseLine => l.event === 'case').map((l) => [l.name, l]));
  const extra = (line: CaseLine | undefined): object => ({ case: line, server: n.server.output() });

  t.test('the SPKI list trusts those keys only: a page with another self-signed key is refused', async (t) => {
    const u = lines.find((l) => l.event === 'untrusted') as { error: string | null } | undefined;
    t.ok(u, 'the driver tried it', { output: driver.output() });
    t.match(u?.error ?? 'loaded', /ERR_CERT_AUTHORITY_INVALID|ERR_CERT/, 'certificate error');
  });

  for (const c of cases.slice(0, 3)) {
    t.test(`${c.name} from a page served over ${c.page}: an ARP reply and a DHCPOFFER come back`, async (t) => {
      const line = byName.get(c.name);
      t.ok(line, `the driver reported case ${c.name}`, { output: driver.output() });
      if (!line) return;
      const r = line.result;
      t.comment(`${c.name}: ${r.ms} ms (with a 300 ms wait for late replies), ${r.sent} frames sent, ${r.received} received`);
      t.equal(line.pageUrl.split(':')[0], c.page, 'the page came over its scheme');
      t.equal(r.constructError, null, 'the constructor accepted the URL', extra(line));
      t.ok(r.opened, 'the WebSocket opened', extra(line));
      t.equal(r.binaryType, 'arraybuffer');
      t.equal(r.textReceived, 0, 'no text messages from the relay');
      t.ok(r.arp, 'an ARP reply for 192.168.86.1', extra(line));
      t.ok(r.offer, 'a DHCPOFFER', extra(line));
      if (!r.arp || !r.offer) return;
      t.equal(r.arp.op, 2, 'ARP opcode 2 (reply)');
      t.equal(r.arp.senderIp, '192.168.86.1', 'sender IP is the gateway');
      t.equal(r.arp.senderMac, bridgeMac, 'sender MAC is the bridge\'s');
      t.equal(r.arp.src, bridgeMac, 'sent from the bridge\'s MAC');
      t.equal(r.arp.targetMac, c.mac, 'addressed to the page\'s MAC');
      t.equal(r.arp.dst, c.mac, 'delivered to the page\'s MAC');
      // One answer, from the gateway: a second MAC claiming 192.168.86.1 (another interface in the
      // relay's namespace answering for a local address) may be the one a guest caches.
      t.same(r.arpReplies.map((a) => a.senderMac), r.arpReplies.map(() => bridgeMac),
        'every ARP reply for 192.168.86.1 carries the bridge\'s MAC',
        { answeredBy: r.arpReplies.map((a) => `${a.senderMac} (${owner(a.senderMac)})`), bridgeMac, relayNamespaceLinks: srvLinks });
      t.equal(r.offer.messageType, 2, 'option 53 = 2 (DHCPOFFER)');
      t.equal(r.offer.chaddr, c.mac, 'for the page\'s MAC');
      t.equal(r.offer.dst, c.mac, 'delivered to the page\'s MAC');
      t.match(r.offer.yiaddr, /^192\.168\.86\.(\d+)$/, 'yiaddr in 192.168.86.0/24');
      t.not(r.offer.yiaddr, '192.168.86.1', 'yiaddr is not the gateway');
      t.equal(r.offer.serverId, '192.168.86.1', 'server identifier (option 54)');
      t.equal(r.offer.router, '192.168.86.1', 'router (option 3)');
      t.equal(r.offer.mask, '255.255.255.0', 'subnet mask (option 1)');
      t.equal(r.offer.ipSrc, '192.168.86.1', 'sent from the bridge address');
      t.equal(r.offer.src, bridgeMac, 'sent from the bridge\'s MAC');
      t.ok(r.offer.ipChecksumOk, 'its IPv4 header checksum verifies');
      t.same([r.offer.sport, r.offer.dport], [67, 68], 'UDP 67 -> 68');
      const scheme = c.url.split(':')[0]!;
      t.match(n.server.output(), new RegExp(`client connected client_address=198\\.19\\.1\\.2 .*scheme=${scheme}\\b`), `the relay logged a ${scheme} client`);
      t.match(n.server.output(), new RegExp(`client MAC .*scheme=${scheme}\\b.* mac=${c.mac}`), 'the relay saw the page\'s MAC');
    });
  }

  t.test('an https page may not open ws:// (mixed content), so the relay never hears of it', async (t) => {
    const line = byName.get('https page, ws');
    t.ok(line, 'the driver reported the case', { output: driver.output() });
    if (!line) return;
    const r = line.result;
    t.equal(line.pageUrl.split(':')[0], 'https', 'the page came over https');
    t.notOk(r.opened, 'the WebSocket did not open', extra(line));
    t.notOk(r.arp || r.offer, 'nothing came back');
    // Chromium throws from the constructor: "Failed to construct 'WebSocket': An insecure
    // WebSocket connection may not be initiated from a page loaded over HTTPS."
    t.match(r.constructError ?? `error=${r.error} close=${JSON.stringify(r.close)}`, /SecurityError|insecure/i, 'the browser refused it', extra(line));
    t.comment(`the browser said: ${r.constructError}`);
    t.notMatch(n.server.output(), /mac=02:00:00:00:00:04/, 'no frame from it reached the relay');
    const connects = n.server.output().split('\n').filter((l) => /client connected client_address=198\.19\.1\.2 /.test(l));
    t.equal(connects.length, 3, 'three connections: ws, wss, and wss from the https page', { server: n.server.output() });
  });
});
