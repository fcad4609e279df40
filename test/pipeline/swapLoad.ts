/**
 * Hot swaps of `parse` under a steady simulator load on a scheduled pipeline, measured from the
 * outside: each swap is a rolling update to another release, and the pause it causes is the
 * longest gap between consecutive entries of the `state.changes` stream while it runs. At the
 * end: every acknowledged item must hold its newest state (lost = items that do not), and no
 * (item, seq) may appear twice in `state.changes` (duplicated). Shared by the swap bench and the
 * hot-swap test.
 */
import { startDeployment } from '../../scheduler/rollout.js';
import type { ItemRecord, StateChangeV1 } from '../../services/messages.js';
import { Simulator, type RunStats } from '../../services/simulator/simulator.js';
import { waitFor } from '../helpers/wait.js';
import { longestPause, recordRelease, tailStream, type ScheduledPipeline } from './scheduledPipeline.js';

export interface SwapMeasure {
  /** One entry per swap: how long the deployment took and the longest state-change gap inside it. */
  swaps: Array<{ release: string; tookMs: number; pauseMs: number; parsePidBefore: number; parsePidAfter: number }>;
  /** Longest gaps in windows of the same length without a swap (the load's own jitter). */
  baselinePausesMs: number[];
  stats: RunStats;
  stateChanges: number;
  lost: number;
  duplicated: number;
  /** pids of the services other than parse before and after (they must not change). */
  othersBefore: Record<string, number>;
  othersAfter: Record<string, number>;
}

export interface SwapLoadOptions {
  swaps: number;
  rate: number;
  /** Called after each swap (progress lines). */
  onSwap?: (i: number, swap: SwapMeasure['swaps'][number]) => void;
  /** Release commits to alternate between; recorded against this checkout's dist/. */
  releases?: [string, string];
}

export async function swapUnderLoad(p: ScheduledPipeline, o: SwapLoadOptions): Promise<SwapMeasure> {
  const releases = o.releases ?? ['a'.repeat(40), 'b'.repeat(40)];
  for (const r of releases) await recordRelease(p.pool, r);
  const sim = new Simulator({ fleet: p.fleet, seed: 7, replayRate: 0, reorderRate: 0 });
  const othersBefore = await othersPids(p);
  const changes = await tailStream(p.redis, 'state.changes');
  const loadStart = Date.now();
  // Long enough for every swap (about 2-3 s each on 2 cores) plus a quiet baseline on each side.
  const durationMs = 8_000 + o.swaps * 4_000;
  const run = sim.run({ url: await p.url('ingest'), rate: o.rate, durationMs, retryForMs: 60_000 });
  await new Promise((r) => setTimeout(r, 4_000));
  const swaps: SwapMeasure['swaps'] = [];
  const windows: Array<[number, number]> = [];
  for (let i = 0; i < o.swaps; i++) {
    const release = releases[(i + 1) % 2]!;
    const before = (await p.pids()).parse ?? 0;
    const t0 = Date.now();
    const d = await startDeployment(p.pool, { service: 'parse', release, healthWindowMs: 300, batchTimeoutMs: 60_000, actor: 'swap-load' });
    const done = await waitFor(
      `swap ${i + 1} (deployment ${d.id})`,
      async () => {
        const r = await p.pool.query<{ state: string; error: string | null }>('SELECT state, error FROM deployments WHERE id = $1', [d.id]);
        const row = r.rows[0]!;
        if (row.state === 'failed' || row.state === 'rolled_back') throw new Error(`swap ${i + 1} failed: ${row.error}`);
        return row.state === 'succeeded' ? row : null;
      },
      60_000,
      20,
    );
    void done;
    const t1 = Date.now();
    windows.push([t0, t1]);
    const after = (await p.pids()).parse ?? 0;
    const swap = { release, tookMs: t1 - t0, pauseMs: 0, parsePidBefore: before, parsePidAfter: after };
    swaps.push(swap);
    await new Promise((r) => setTimeout(r, 500));
    o.onSwap?.(i, swap);
  }
  const stats = await run;
  const loadEnd = loadStart + durationMs;
  const expected = sim.expectedItems();
  const stateUrl = await p.url('state');
  const mismatches = async () => {
    const held = new Map<string, { seq: number } & ItemRecord>();
    for (const site of p.fleet.sites) {
      const res = await fetch(`${stateUrl}/state/items?site=${site.id}`, { headers: p.auth });
      const { items } = (await res.json()) as { items: Array<{ site: number; device: number; item: number; seq: number } & ItemRecord> };
      for (const i of items) held.set(`${i.site}/${i.device}/${i.item}`, i);
    }
    return expected.filter((e) => held.get(`${e.site}/${e.device}/${e.item}`)?.seq !== e.seq).length;
  };
  let lost = expected.length;
  await waitFor('the state to settle', async () => (lost = await mismatches()) === 0, 30_000, 250).catch(() => undefined);

  const tailed = await changes.stop();
  const times = tailed.map((e) => e.ms);
  swaps.forEach((s, i) => (s.pauseMs = longestPause(times, windows[i]![0], windows[i]![1])));
  // Baseline: windows of the median swap length under the same load, before and after the swaps.
  const len = [...swaps].map((s) => s.tookMs).sort((a, b) => a - b)[Math.floor(swaps.length / 2)] ?? 1_000;
  const quiet: Array<[number, number]> = [];
  for (let from = loadStart + 1_000; from + len < windows[0]![0]; from += len) quiet.push([from, from + len]);
  for (let from = windows.at(-1)![1] + 1_000; from + len < Math.min(loadEnd, times.at(-1) ?? 0) - 500; from += len) quiet.push([from, from + len]);
  const baselinePausesMs = quiet.map(([a, b]) => longestPause(times, a, b));

  const seen = new Map<string, number>();
  for (const { body } of tailed) {
    const c = body as StateChangeV1;
    const key = `${c.site}/${c.device}/${c.item}/${c.seq}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  const stateChanges = tailed.length;
  const duplicated = [...seen.values()].reduce((n, count) => n + count - 1, 0);
  return { swaps, baselinePausesMs, stats, stateChanges, lost, duplicated, othersBefore, othersAfter: await othersPids(p) };
}

async function othersPids(p: ScheduledPipeline): Promise<Record<string, number>> {
  const { parse: _parse, ...others } = await p.pids();
  return others;
}
