// The benchmark's results: the rows every section adds, printed as one table (or as JSON).
import type { Options } from './options.js';
import { GiB, KiB, MiB } from './support.js';

export interface Row {
  section: number;
  measure: string;
  value?: number;
  unit?: string;
  /** The figure shown, when it is not just value and unit. */
  shown?: string;
  reference?: string;
  referenceValue?: number;
  ratio?: number;
  target?: string;
  met?: boolean;
  note?: string;
  extra?: Record<string, number>;
}

export const rows: Row[] = [];

export function fmtBytes(n: number): string {
  if (n >= GiB && n % GiB === 0) return `${n / GiB} GiB`;
  if (n >= GiB) return `${(n / GiB).toFixed(2)} GiB`;
  if (n >= MiB) return `${+(n / MiB).toFixed(1)} MiB`;
  if (n >= KiB) return `${+(n / KiB).toFixed(1)} KiB`;
  return `${n} B`;
}

export function fmtMB(bytesPerSec: number): string {
  return `${(bytesPerSec / 1e6).toFixed(0)} MB/s`;
}

export function fmtRss(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function ratioCell(r: number | undefined): string {
  return r === undefined ? '' : `${r.toFixed(2)}x`;
}

export function printTable(o: Options, info: Record<string, string>): void {
  const header = ['#', 'measure', 'linedrop', 'reference', 'ratio', 'target', 'met'];
  const body = rows.map((r) => [
    String(r.section),
    r.measure,
    r.shown ?? (r.value !== undefined ? `${r.value} ${r.unit ?? ''}`.trim() : ''),
    r.reference ?? '',
    ratioCell(r.ratio),
    r.target ?? '',
    r.met === undefined ? (r.note ?? '') : r.met ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const out: string[] = [];
  out.push(
    `linedrop benchmark (${o.quick ? 'quick' : 'full'} run): ${Object.entries(info)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  if (o.quick) out.push('(quick run: smaller sizes than the targets are set for; the met column is only indicative)');
  out.push('');
  out.push(line(header));
  out.push(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const b of body) out.push(line(b));
  const notes = rows.filter((r) => r.note && r.met !== undefined);
  if (notes.length > 0) {
    out.push('');
    for (const r of notes) out.push(`note (${r.section}, ${r.measure}): ${r.note}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}
