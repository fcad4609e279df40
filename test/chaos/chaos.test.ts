/**
 * Chaos: a real node under steady simulator load while faults are injected; afterwards every
 * frame ingest acknowledged (202) must be reflected in the final state (live and in PostgreSQL),
 * in state.changes and in the blast reports (lost = 0), and no update may come out of state
 * twice (duplicated = 0). See docs/chaos.md.
 *
 * `npm test` runs a short version (one node: a random service SIGKILLed, then Redis cut for
 * 2 s). `npm run test:chaos` (HYDRA_CHAOS=full) runs every scenario and prints the table.
 */
import t from 'tap';
import { runScenario, TABLE_HEAD, tableLine, type ScenarioOptions, type ScenarioRow } from './scenario.js';

const FULL = process.env.HYDRA_CHAOS === 'full';
const seed = process.env.HYDRA_CHAOS_SEED ? Number(process.env.HYDRA_CHAOS_SEED) : undefined;
/** Runs only the scenarios whose name contains it (case-insensitive), to repeat one. */
const only = process.env.HYDRA_CHAOS_ONLY?.toLowerCase();

const SHORT: ScenarioOptions[] = [
  {
    name: 'SIGKILL a service + Redis cut 2 s',
    mode: 'standalone',
    durationMs: 9_000,
    faults: [
      { kind: 'kill-service', at: 2_000 },
      { kind: 'redis-cut', at: 4_500, ms: 2_000 },
    ],
  },
];

const SCENARIOS: ScenarioOptions[] = [
  {
    name: 'SIGKILL random services ×6',
    mode: 'standalone',
    durationMs: 16_000,
    faults: [2_000, 4_000, 6_000, 8_000, 10_000, 12_000].map((at) => ({ kind: 'kill-service' as const, at })),
  },
  { name: 'power cut (node + Redis)', mode: 'standalone', durationMs: 14_000, faults: [{ kind: 'power-cut', at: 4_000, downMs: 1_000 }] },
  { name: 'Redis SIGKILL + restart (AOF)', mode: 'standalone', durationMs: 12_000, faults: [{ kind: 'redis-restart', at: 4_000, downMs: 500 }] },
  { name: 'Redis unreachable 4 s', mode: 'standalone', durationMs: 12_000, faults: [{ kind: 'redis-cut', at: 3_000, ms: 4_000 }] },
  { name: 'PostgreSQL unreachable 5 s', mode: 'standalone', durationMs: 13_000, faults: [{ kind: 'pg-cut', at: 3_000, ms: 5_000 }] },
  {
    name: 'hot swaps during all of it',
    mode: 'scheduled',
    durationMs: 22_000,
    faults: [
      { kind: 'hot-swap', at: 3_000 },
      { kind: 'kill-service', at: 3_500 },
      { kind: 'redis-cut', at: 4_500, ms: 2_000 },
      { kind: 'hot-swap', at: 9_000 },
      { kind: 'pg-cut', at: 9_500, ms: 3_000 },
      { kind: 'redis-restart', at: 10_500, downMs: 500 },
      { kind: 'hot-swap', at: 15_000 },
      { kind: 'kill-service', at: 15_200 },
    ],
  },
];

const rows: ScenarioRow[] = [];
for (const s of (FULL ? SCENARIOS : SHORT).filter((s) => !only || s.name.toLowerCase().includes(only))) {
  t.test(s.name, async (t) => {
    rows.push(await runScenario(t, { ...s, ...(seed === undefined ? {} : { seed }) }));
  });
}

t.test('results table', async (t) => {
  // One markdown table, as a comment so tap's reporter shows it.
  t.comment(`chaos results\n${TABLE_HEAD}\n${rows.map(tableLine).join('\n')}`);
  t.pass(`${rows.length} scenario(s) measured`);
});
