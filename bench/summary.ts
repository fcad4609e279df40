/**
 * The one table `npm run bench` ends with: a row per headline figure of each bench that ran,
 * with, where the figure has a limit or a peer measured in the same run, the ratio to it.
 * Written to bench/results/summary.json as well.
 */
import type { Percentiles } from './report.js';

export interface SummaryRow {
  bench: string;
  measurement: string;
  value: string;
  /** What the value is compared with (a limit or a peer measured in the same run), and the ratio. */
  against: string;
  ratio: string;
}

interface ChannelRow {
  transport: string;
  batch: number;
  publishPerSec: number;
  consumePerSec: number;
}
interface RestartResult {
  cold: Percentiles;
  first: Percentiles;
  ratio: number;
}
interface PhaseResult {
  framesPerSec: number;
  latency: Percentiles;
}
interface PipelineResult {
  saturated: PhaseResult;
  paced: PhaseResult;
  relay: PhaseResult;
  ratio: { throughput: number };
}
interface SwapResult {
  pauseMs: Percentiles;
  baselinePauseMs: Percentiles;
  lost: number;
  duplicated: number;
  pauseToBaseline: number | null;
}
interface MemoryResult {
  rows: Array<{ process: string; loadMaxMiB: number; toBareNode: number }>;
  bare: number;
  total: number;
}

const n = (v: number) => Math.round(v).toLocaleString('en-US');
const x = (v: number | null) => (v === null || !Number.isFinite(v) ? 'n/a' : `${v.toFixed(2)}x`);

export function summarize(name: string, result: unknown): SummaryRow[] {
  const row = (measurement: string, value: string, against = '', ratio = ''): SummaryRow => ({ bench: name, measurement, value, against, ratio });
  switch (name) {
    case 'channels': {
      const rows = result as ChannelRow[];
      const redis = rows.find((r) => r.transport === 'redis' && r.batch === 1000);
      const memory = rows.find((r) => r.transport === 'memory' && r.batch === 1000);
      if (!redis || !memory) return [];
      return [
        row('Redis channel, batch 1000: publish / consume msg/s', `${n(redis.publishPerSec)} / ${n(redis.consumePerSec)}`, 'memory (sql.js) channel, same batch', x(redis.consumePerSec / memory.consumePerSec)),
        row('memory channel, batch 1000: publish / consume msg/s', `${n(memory.publishPerSec)} / ${n(memory.consumePerSec)}`),
      ];
    }
    case 'restart': {
      const r = result as RestartResult;
      return [row('service SIGKILL → first HTTP 200, median ms', String(r.first.median), `bare node cold start ${r.cold.median} ms`, x(r.ratio))];
    }
    case 'pipeline': {
      const r = result as PipelineResult;
      return [
        row('pipeline saturated, frames/s (p50 / p99 ms)', `${n(r.saturated.framesPerSec)} (${r.saturated.latency.median} / ${r.saturated.latency.p99})`, `raw 3-hop Redis relay ${n(r.relay.framesPerSec)} msg/s`, x(1 / r.ratio.throughput)),
        row('pipeline paced, latency p50 / p99 ms', `${r.paced.latency.median} / ${r.paced.latency.p99}`, `relay p50 ${r.relay.latency.median} ms`, x(r.paced.latency.median / Math.max(0.1, r.relay.latency.median))),
      ];
    }
    case 'swap': {
      const r = result as SwapResult;
      return [
        row('hot swap under load: state-change pause p50 / p99 ms', `${r.pauseMs.median} / ${r.pauseMs.p99}`, `same windows without a swap, p50 ${r.baselinePauseMs.median} ms`, x(r.pauseToBaseline)),
        row('hot swap: messages lost / duplicated', `${r.lost} / ${r.duplicated}`, 'limit 0 / 0', r.lost === 0 && r.duplicated === 0 ? 'ok' : 'FAILED'),
      ];
    }
    case 'memory': {
      const r = result as MemoryResult;
      return [
        ...r.rows.map((p) => row(`RSS under load, ${p.process}, MiB`, p.loadMaxMiB.toFixed(1), `bare node ${r.bare.toFixed(1)} MiB`, x(p.toBareNode))),
        row('RSS under load, whole node (daemon + services), MiB', r.total.toFixed(1)),
      ];
    }
    default:
      return [];
  }
}
