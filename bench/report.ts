/** Shared output of the benches: one line per measurement as it lands, a markdown table, a JSON file. */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';

export function progress(line: string): void {
  process.stdout.write(`  ${line}\n`);
}

export function table(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? c.toLocaleString('en-US', { maximumFractionDigits: 0 }) : c)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => String(r[i]).length)));
  const line = (r: Array<string | number>) => `| ${r.map((c, i) => String(c).padEnd(widths[i]!)).join(' | ')} |`;
  return [line(cells[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.slice(1).map(line)].join('\n');
}

/** Writes bench/results/<name>.json with the machine it ran on; returns the path. */
export function writeResult(name: string, data: unknown): string {
  const dir = new URL('./results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  const file = new URL(`${name}.json`, dir);
  const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version };
  writeFileSync(file, `${JSON.stringify({ bench: name, at: new Date().toISOString(), machine, ...(data as object) }, null, 2)}\n`);
  return file.pathname;
}

export interface Percentiles {
  median: number;
  p95: number;
  p99: number;
  min: number;
  max: number;
  samples: number[];
}

/** Nearest-rank percentiles of a sample, rounded to 0.1. */
export function percentiles(samples: number[], keep = true): Percentiles {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
  const r = (n: number) => Math.round(n * 10) / 10;
  return { median: r(at(0.5)), p95: r(at(0.95)), p99: r(at(0.99)), min: r(s[0]!), max: r(s[s.length - 1]!), samples: keep ? samples.map(r) : [] };
}
