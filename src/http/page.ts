/** The answer to a plain HTTP request: 426, and a page that says the server works. */
import type { IncomingMessage, ServerResponse } from 'node:http';

export function upgradeRequired(req: IncomingMessage, res: ServerResponse, tls: boolean): void {
  const host = req.headers.host ?? 'this-host';
  const scheme = tls ? 'wss' : 'ws';
  const body = [
    '<!doctype html><meta charset="utf-8"><title>wsnic</title>',
    '<h1>wsnic is running</h1>',
    `<p>This is a WebSocket-to-Ethernet relay. Point your emulator's network relay at <code>${scheme}://${escapeHtml(host)}/</code>.</p>`,
    tls ? '<p>TLS test succeeded: this browser accepts the certificate, so wss:// will work from it.</p>' : '',
    '',
  ].join('\n');
  res.writeHead(426, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    Upgrade: 'websocket',
    Connection: 'Upgrade',
  });
  res.end(body);
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
