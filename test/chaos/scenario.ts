/**
 * One chaos scenario: a node on its rig (chaosRig.ts), the simulator's steady load through
 * ingest, faults injected on a schedule (faults.ts), then the accounting (accounting.ts) once the
 * node has settled. Asserts lost = 0, duplicated = 0 and unannounced = 0 and returns the
 * scenario's row: packets sent, acknowledged, applied, lost, duplicated, unannounced, and the
 * time to recover (the longest, over its
 * faults, from the fault being lifted until the service is back and a frame acknowledged after
 * that moment has come out of state in `state.changes`).
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Test } from 'tap';
import { Simulator, type RunStats } from '../../services/simulator/simulator.js';
import { seededRandom } from '../../services/simulator/random.js';
import { sleep } from '../helpers/wait.js';
import { tailStream } from '../pipeline/scheduledPipeline.js';
import { AckLog, flowingAgainAfter, verdict, type Verdict } from './accounting.js';
import { chaosRig, type RigMode } from './chaosRig.js';
import { inject, type FaultResult, type FaultSpec } from './faults.js';

export interface ScenarioOptions {
  name: string;
  mode: RigMode;
  faults: FaultSpec[];
  /** Frames per second offered; default 300. */
  rate?: number;
  durationMs: number;
  blasts?: number;
  /** Seeds the traffic and the fault picks; default random (printed). */
  seed?: number;
}

export interface ScenarioRow extends Verdict {
  scenario: string;
  faults: string[];
  /** Longest time to recover over the faults, ms; null when the pipeline never flowed again. */
  recoveryMs: number | null;
  stats: RunStats;
  seed: number;
}

export async function runScenario(t: Test, o: ScenarioOptions): Promise<ScenarioRow> {
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 31);
  const rng = seededRandom(seed);
  const rig = await chaosRig(t, o.mode);
  const acks = new AckLog();
  const sim = new Simulator({ fleet: rig.fleet, seed, replayRate: 0.02, reorderRate: 0.02 });
  const tail = await tailStream(rig.observer, 'state.changes');
  // When each frame reached state's input: tells a late delivery from a missing announcement.
  const parsedTail = await tailStream(rig.observer, 'packets.parsed');
  const loadStart = Date.now();
  // The load runs until every fault is lifted and the pipeline had time to show it flows again
  // (at least `durationMs`), so a slow recovery is measured, not cut off by the end of the load.
  const stop = new AbortController();
  const run = sim.run({ url: await rig.url('ingest'), rate: o.rate ?? 300, durationMs: 3_600_000, signal: stop.signal, retryForMs: 90_000, onAccepted: acks.onAccepted });
  run.catch(() => undefined); // looked at below, after the faults
  const blasts = o.blasts ?? 2;
  const outcomes = ['complete', 'fault', 'abort'] as const;
  const blasting = (async () => {
    for (let i = 0; i < blasts; i++) {
      await sleep(Math.max(0, loadStart + (o.durationMs * (i + 1)) / (blasts + 1) - Date.now())); // the blast's slot in the schedule
      if (!stop.signal.aborted) sim.traffic.startBlast(outcomes[i % outcomes.length]!);
    }
  })();
  let results: FaultResult[];
  try {
    results = await Promise.all(
      o.faults.map(async (f) => {
        await sleep(Math.max(0, loadStart + f.at - Date.now())); // the fault's time in the schedule
        return inject(rig, f, (list) => rng.pick(list));
      }),
    );
    const lastLifted = Math.max(loadStart, ...results.map((r) => r.liftedAt));
    // The load runs its duration, and at least 4 s after the last fault is lifted.
    await sleep(Math.max(0, loadStart + o.durationMs - Date.now(), lastLifted + 4_000 - Date.now()));
  } catch (err) {
    t.comment(`scenario ${o.name} (seed ${seed}) failed while injecting faults; node output:\n${rig.output().slice(-6_000)}`);
    throw err;
  } finally {
    stop.abort(); // the run sends what it has queued, finishes open blasts, then returns
  }
  await blasting;
  const stats = await run;

  // Settle: everything acknowledged must come out; give the node a minute to catch up.
  const input = async () => ({ sim, stats, acks, changes: [...tail.peek()], stateUrl: await rig.url('state'), reportUrl: await rig.url('report'), auth: rig.auth, pool: rig.pool });
  const deadline = Date.now() + 60_000;
  let v = await verdict(await input());
  while (v.lost > 0 && Date.now() < deadline) {
    await sleep(500); // poll interval; the loop tolerates the deadline (the verdict reports what is lost)
    v = await verdict(await input());
  }
  await sleep(1_000); // a late duplicate would come out now
  const changes = await tail.stop();
  const parsed = await parsedTail.stop();
  v = await verdict({ ...(await input()), changes, parsed });

  const recoveries = results.map((r) => recoveryOf(r, changes, acks));
  const known = recoveries.filter((r): r is number => r !== null);
  const row: ScenarioRow = {
    scenario: o.name,
    faults: results.map((r, i) => `${r.label} (${recoveries[i] === null ? 'never recovered' : `${recoveries[i]} ms`})`),
    recoveryMs: known.length === results.length ? Math.max(0, ...known) : null,
    stats,
    seed,
    ...v,
  };

  t.comment(`${o.name}: ${formatRow(row)} | faults: ${row.faults.join('; ')} | seed ${seed}`);
  t.equal(stats.rejected, 0, `ingest rejected nothing the simulator sent (${JSON.stringify(stats.reasons)})`);
  t.ok(v.acknowledged > 0 && v.acknowledged >= stats.sent - stats.failed - stats.unsent - stats.rejected, `frames were acknowledged under faults (${v.acknowledged} of ${stats.sent}; ${stats.failed} failed, ${stats.unsent} unsent, ${stats.retries} retries)`);
  t.equal(v.lost, 0, `${o.name}: no acknowledged frame lost${v.lost ? `: ${v.problems.join('; ')}` : ''}`);
  t.equal(v.duplicated, 0, `${o.name}: no update applied twice${v.duplicated ? `: ${v.problems.join('; ')}` : ''}`);
  t.equal(v.unannounced, 0, `${o.name}: every applied update came out in state.changes${v.unannounced ? `: ${v.problems.join('; ')}` : ''}`);
  t.not(row.recoveryMs, null, `${o.name}: the pipeline recovered from every fault (${row.faults.join('; ')})`);
  for (const r of results) {
    if (r.queries) t.equal(r.queries.failed, 0, `the live state kept answering while PostgreSQL was unreachable (${r.queries.total} queries${r.queries.lastError ? `; last error ${r.queries.lastError}` : ''})`);
  }
  if (v.lost > 0 || v.duplicated > 0 || v.unannounced > 0 || row.recoveryMs === null) {
    const file = path.join(os.tmpdir(), `hydra-chaos-${o.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}-${seed}.log`);
    writeFileSync(file, `${rig.output()}\n---- redis-server log ----\n${rig.redis.log()}`);
    t.comment(`seed ${seed}; the node's whole output is in ${file}; its end:\n${rig.output().slice(-3_000)}`);
  }
  return row;
}

function recoveryOf(r: FaultResult, changes: Array<{ ms: number; body: unknown }>, acks: AckLog): number | null {
  const flowing = flowingAgainAfter(r.liftedAt, changes, acks);
  if (flowing === null) return null;
  return Math.max(flowing, r.backAt === null ? 0 : r.backAt - r.liftedAt);
}

export const TABLE_HEAD = '| scenario | sent | acknowledged | applied | lost | duplicated | unannounced | recovery |\n|---|---:|---:|---:|---:|---:|---:|---:|';

export function tableLine(r: ScenarioRow): string {
  return `| ${r.scenario} | ${r.sent} | ${r.acknowledged} | ${r.applied} | ${r.lost} | ${r.duplicated} | ${r.unannounced} | ${r.recoveryMs === null ? 'never' : `${(r.recoveryMs / 1000).toFixed(1)} s`} |`;
}

function formatRow(r: ScenarioRow): string {
  return `sent ${r.sent}, acknowledged ${r.acknowledged}, applied ${r.applied} (${r.overtaken} overtaken on arrival), lost ${r.lost}, duplicated ${r.duplicated}, unannounced ${r.unannounced}, recovery ${r.recoveryMs === null ? 'never' : `${r.recoveryMs} ms`}`;
}
