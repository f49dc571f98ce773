/**
 * Printing helpers shared by every benchmark section (HTTP, gRPC,
 * propagation), so their tables read alike.
 */

/** One measured line: any of throughput, tail latency and bandwidth. */
export interface BenchRow {
  readonly name: string;
  readonly rps?: number;
  readonly p99ms?: number;
  readonly mbps?: number;
  /** Free text shown last, e.g. which log level or what the row refuses. */
  readonly note?: string;
}

/** Latency figures in milliseconds, e.g. how long a change takes to reach every process. */
export interface LatencySummary {
  readonly median: number;
  readonly p99: number;
  readonly max: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function formatRps(rps: number | undefined): string {
  return rps === undefined || Number.isNaN(rps) ? '-' : Math.round(rps).toLocaleString('en-US');
}

export function formatMs(ms: number | undefined): string {
  if (ms === undefined || Number.isNaN(ms)) return '-';
  return ms < 10 ? `${ms.toFixed(2)} ms` : `${ms.toFixed(1)} ms`;
}

export function formatRatio(ratio: number | undefined): string {
  return ratio === undefined || !Number.isFinite(ratio) ? '-' : `${ratio.toFixed(2)}x`;
}

export function formatMbps(mbps: number | undefined): string {
  return mbps === undefined || Number.isNaN(mbps) ? '-' : `${mbps.toFixed(1)} MB/s`;
}

/** Lays out a table with a header rule; numeric-looking cells are right-aligned. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = (cell: string): boolean => /^[-\d.,]+( ?(ms|x|MB\/s))?$/.test(cell);
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (numeric(c) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Prints rows of any section: name, req/s, p99, MB/s (columns no row fills are left out), note. */
export function printRows(title: string, rows: readonly BenchRow[], out: NodeJS.WritableStream = process.stdout): void {
  const columns: { header: string; cell: (r: BenchRow) => string; used: boolean }[] = [
    { header: 'row', cell: (r) => r.name, used: true },
    { header: 'req/s', cell: (r) => formatRps(r.rps), used: rows.some((r) => r.rps !== undefined) },
    { header: 'p99', cell: (r) => formatMs(r.p99ms), used: rows.some((r) => r.p99ms !== undefined) },
    { header: 'MB/s', cell: (r) => formatMbps(r.mbps), used: rows.some((r) => r.mbps !== undefined) },
    { header: 'note', cell: (r) => r.note ?? '', used: rows.some((r) => r.note !== undefined) },
  ];
  const used = columns.filter((c) => c.used);
  out.write(`\n${title}\n${formatTable(used.map((c) => c.header), rows.map((r) => used.map((c) => c.cell(r))))}\n`);
}

/** Prints a latency summary (median, p99, max in ms). */
export function printLatency(title: string, summary: LatencySummary, out: NodeJS.WritableStream = process.stdout): void {
  out.write(`\n${title}\n${formatTable(['median', 'p99', 'max'], [[formatMs(summary.median), formatMs(summary.p99), formatMs(summary.max)]])}\n`);
}
