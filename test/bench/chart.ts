/** A small SVG bar chart of the benchmark: relay next to the kernel path for each figure. */
export interface Bar {
  label: string;
  relay: number;
  kernel?: number | undefined;
  unit: string;
}

const esc = (s: string): string => s.replace(/[&<>]/g, (c) => `&#${c.charCodeAt(0)};`);
const num = (v: number): string => (v >= 100 ? Math.round(v).toLocaleString('en-US') : Number(v.toPrecision(3)).toString());

/** The chart's rows from the figures (so bench.json alone can redraw it). */
export function barsFromFigures(figures: { name: string; value: number }[]): Bar[] {
  const f = new Map(figures.map((x) => [x.name, x.value]));
  const rows: [string, string, string | undefined, string][] = [
    ['connect to lease (ms)', 'lease_ms.relay', 'lease_ms.kernel', 'ms'],
    ['ping guest→gateway avg (ms)', 'ping_gateway_avg_ms.relay', 'ping_gateway_avg_ms.kernel', 'ms'],
    ['ping guest→guest avg (ms)', 'ping_guest_avg_ms.relay', 'ping_guest_avg_ms.kernel', 'ms'],
    ...(['guest_to_guest', 'guest_to_host', 'host_to_guest'] as const).flatMap((w): [string, string, string, string][] => [
      [`TCP ${w.replace(/_/g, ' ')} (Mbit/s)`, `tcp_${w}_mbit.relay`, `tcp_${w}_mbit.kernel`, 'Mbit/s'],
      [`jumbo TCP ${w.replace(/_/g, ' ')} (Mbit/s)`, `jumbo.tcp_${w}_mbit.relay`, `jumbo.tcp_${w}_mbit.kernel`, 'Mbit/s'],
    ]),
    ['UDP 64 B, < 1 % loss (packets/s)', 'udp64_highest_rx_pps_under_1pct_loss', undefined, 'pps'],
  ];
  return rows
    .filter(([, relay]) => f.has(relay))
    .map(([label, relay, kernel, unit]) => ({ label, relay: f.get(relay)!, kernel: kernel === undefined ? undefined : f.get(kernel), unit }));
}

export function renderChart(title: string, bars: Bar[]): string {
  const rowH = 34;
  const left = 300;
  const width = 900;
  const plotW = width - left - 200;
  const height = 60 + bars.length * rowH + 30;
  const rows = bars.map((b, i) => {
    const max = Math.max(b.relay, b.kernel ?? 0) || 1;
    const y = 50 + i * rowH;
    const w = (v: number): number => Math.max(1, (v / max) * plotW);
    const parts = [
      `<text x="${left - 8}" y="${y + 14}" text-anchor="end">${esc(b.label)}</text>`,
      `<rect x="${left}" y="${y}" width="${w(b.relay)}" height="12" fill="#2b6cb0"/>`,
      `<text x="${left + w(b.relay) + 6}" y="${y + 11}">${num(b.relay)} ${esc(b.unit)} wsnic</text>`,
    ];
    if (b.kernel !== undefined) {
      parts.push(
        `<rect x="${left}" y="${y + 14}" width="${w(b.kernel)}" height="12" fill="#a0aec0"/>`,
        `<text x="${left + w(b.kernel) + 6}" y="${y + 25}">${num(b.kernel)} ${esc(b.unit)} kernel</text>`,
      );
    }
    return parts.join('\n');
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="20" y="28" font-size="16" font-weight="bold">${esc(title)}</text>`,
    ...rows,
    `<text x="20" y="${height - 10}" fill="#555">blue: wsnic relay, grey: kernel path (veth on the same bridge); each bar scaled to its own row</text>`,
    '</svg>',
    '',
  ].join('\n');
}
