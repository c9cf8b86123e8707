/** A small SVG bar chart of the benchmark: relay next to the kernel path for each figure. */
export interface Bar {
  label: string;
  relay: number;
  kernel?: number | undefined;
  unit: string;
}

const esc = (s: string): string => s.replace(/[&<>]/g, (c) => `&#${c.charCodeAt(0)};`);

export function renderChart(title: string, bars: Bar[]): string {
  const rowH = 34;
  const left = 300;
  const width = 900;
  const plotW = width - left - 140;
  const height = 60 + bars.length * rowH + 30;
  const rows = bars.map((b, i) => {
    const max = Math.max(b.relay, b.kernel ?? 0) || 1;
    const y = 50 + i * rowH;
    const w = (v: number): number => Math.max(1, (v / max) * plotW);
    const parts = [
      `<text x="${left - 8}" y="${y + 14}" text-anchor="end">${esc(b.label)}</text>`,
      `<rect x="${left}" y="${y}" width="${w(b.relay)}" height="12" fill="#2b6cb0"/>`,
      `<text x="${left + w(b.relay) + 6}" y="${y + 11}">${b.relay.toPrecision(4)} ${esc(b.unit)} wsnic</text>`,
    ];
    if (b.kernel !== undefined) {
      parts.push(
        `<rect x="${left}" y="${y + 14}" width="${w(b.kernel)}" height="12" fill="#a0aec0"/>`,
        `<text x="${left + w(b.kernel) + 6}" y="${y + 25}">${b.kernel.toPrecision(4)} ${esc(b.unit)} kernel</text>`,
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
