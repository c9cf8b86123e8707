/**
 * Admission, before a TAP exists: Origin allow-list (403), tokens (401), total and per-address
 * limits (503, 429), and the client's address behind trusted proxies. Pure but for the tokens
 * file, which is read at start and on reload().
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { BlockList, isIPv4, isIPv6 } from 'node:net';

export interface AdmissionOptions {
  allowedOrigins: string[];
  tokensFile: string;
  maxClients: number; // 0: no limit
  maxPerIp: number; // 0: no limit
  trustedProxies: string[];
  /**
   * Clients the process can hold at all (two descriptors each under its open-file limit), also
   * counting those whose TAP is still being removed; always enforced (503). 0: no such cap.
   */
  capacity?: number;
}

export type Verdict = { ok: true; address: string } | { ok: false; status: number; reason: string; address: string };

/** "https://*.example.org" -> a RegExp for whole Origins; "*" alone matches any. */
export function originPattern(p: string): RegExp {
  const re = p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('[^/]*');
  return new RegExp(`^${re}$`, 'i');
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export class Admission {
  private tokens: Buffer[] = [];
  private readonly origins: RegExp[];
  private readonly proxies = new BlockList();
  private readonly perIp = new Map<string, number>();
  private total = 0;

  constructor(private readonly opts: AdmissionOptions) {
    this.origins = opts.allowedOrigins.map(originPattern);
    for (const p of opts.trustedProxies) {
      const [addr, len] = p.split('/') as [string, string | undefined];
      const type = isIPv6(addr) ? 'ipv6' : 'ipv4';
      if (len === undefined) this.proxies.addAddress(addr, type);
      else this.proxies.addSubnet(addr, Number(len), type);
    }
    this.reload();
  }

  /** (Re)reads the tokens file; a missing or unreadable file is an error for the caller. */
  reload(): number {
    if (!this.opts.tokensFile) return 0;
    let text: string;
    try {
      text = readFileSync(this.opts.tokensFile, 'utf8');
    } catch (err) {
      throw new Error(`auth_tokens_file ${this.opts.tokensFile}: ${(err as Error).message}`);
    }
    const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    this.tokens = lines.map(digest); // compared as digests: equal length, constant time
    return this.tokens.length;
  }

  get requiresToken(): boolean {
    return this.opts.tokensFile !== '';
  }

  /** The client's address: the peer, or X-Forwarded-For's last untrusted hop behind trusted proxies. */
  clientAddress(req: IncomingMessage): string {
    let addr = (req.socket.remoteAddress ?? '?').replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
    const xff = req.headers['x-forwarded-for'];
    if (!xff || !this.trusted(addr)) return addr;
    const hops = (Array.isArray(xff) ? xff.join(',') : xff).split(',').map((h) => h.trim()).filter(Boolean);
    while (hops.length > 0) {
      const hop = hops.pop()!;
      if (!isIPv4(hop) && !isIPv6(hop)) break; // garbage: keep the last address we trust
      addr = hop;
      if (!this.trusted(hop)) break;
    }
    return addr;
  }

  private trusted(addr: string): boolean {
    if (!isIPv4(addr) && !isIPv6(addr)) return false;
    return this.proxies.check(addr, isIPv6(addr) ? 'ipv6' : 'ipv4');
  }

  private tokenOf(req: IncomingMessage): string | undefined {
    // The query alone, parsed by hand: a client's path ("//", say) must not be able to throw.
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const query = q >= 0 ? new URLSearchParams(url.slice(q + 1)).get('token') : null;
    if (query) return query;
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ')) return auth.slice(7).trim();
    const protocols = req.headers['sec-websocket-protocol'];
    return protocols?.split(',').map((p) => p.trim()).find(Boolean);
  }

  private tokenOk(token: string | undefined): boolean {
    if (token === undefined) return false;
    const d = digest(token);
    let ok = false;
    for (const t of this.tokens) ok = timingSafeEqual(t, d) || ok; // no early exit
    return ok;
  }

  /** Decides; an admitted client counts from admit(address) until release(address). */
  check(req: IncomingMessage): Verdict {
    const address = this.clientAddress(req);
    const origin = req.headers.origin;
    if (this.origins.length > 0 && origin !== undefined && !this.origins.some((o) => o.test(origin))) {
      return { ok: false, status: 403, reason: `origin ${origin} not allowed`, address };
    }
    if (this.requiresToken) {
      const token = this.tokenOf(req);
      if (!this.tokenOk(token)) return { ok: false, status: 401, reason: token === undefined ? 'no token' : 'wrong token', address };
    }
    if (this.opts.maxPerIp > 0 && (this.perIp.get(address) ?? 0) >= this.opts.maxPerIp) {
      return { ok: false, status: 429, reason: `too many clients from ${address} (${this.opts.maxPerIp})`, address };
    }
    if (this.opts.maxClients > 0 && this.total >= this.opts.maxClients) {
      return { ok: false, status: 503, reason: `server full (${this.opts.maxClients} clients)`, address };
    }
    if (this.opts.capacity && this.total >= this.opts.capacity) {
      return { ok: false, status: 503, reason: `server full (${this.opts.capacity} clients, the open-file limit)`, address };
    }
    return { ok: true, address };
  }

  /** Counts a client whose handshake completed (check() said ok). */
  admit(address: string): void {
    this.total++;
    this.perIp.set(address, (this.perIp.get(address) ?? 0) + 1);
  }

  release(address: string): void {
    this.total = Math.max(0, this.total - 1);
    const n = (this.perIp.get(address) ?? 1) - 1;
    if (n > 0) this.perIp.set(address, n);
    else this.perIp.delete(address);
  }
}
