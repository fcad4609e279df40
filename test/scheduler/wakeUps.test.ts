/**
 * Wake-ups: with polling slowed to a minute, a scheduled node still acts on a change within
 * seconds, because its LISTEN connection is notified (migration 005) and pokes the leader and
 * the reconciler. The LISTEN connection killed on the server comes back by itself and changes
 * keep arriving at once; a node started without HYDRA_LISTEN_DATABASE_URL still gets there by
 * polling.
 */
import t from 'tap';
import { putServiceSpec } from '../../scheduler/specs.js';
import { waitFor } from '../helpers/wait.js';
import { addRelease, allRunning, placements, startFleet, treeInstances, type Fleet } from './fleet.js';

const RELEASE = 'a'.repeat(40);
const SLOW = { HYDRA_RECONCILE_MS: '60000', HYDRA_SCHEDULER_TICK_MS: '60000' };
/** A tsx service start on a loaded 2-core machine takes a few seconds; polling would take a minute. */
const WITHIN_MS = 15_000;

async function listenBackends(fleet: Fleet, node: string): Promise<number[]> {
  const r = await fleet.pool.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()", [`hydra-listen ${node}`]);
  return r.rows.map((x) => x.pid);
}

/** Milliseconds until `probe` holds (the test fails past `limitMs`). */
async function timed(what: string, probe: () => Promise<boolean>, limitMs: number): Promise<number> {
  const t0 = performance.now();
  await waitFor(what, async () => (await probe()) || null, limitMs, 50);
  return Math.round(performance.now() - t0);
}

t.test('changes reach a node at once through LISTEN, also after its connection was killed', async (t) => {
  const fleet = await startFleet(t);
  const release = await addRelease(fleet.pool, RELEASE);
  const n1 = await fleet.start('n1', { env: SLOW });
  await waitFor('n1 to lead', async () => (await fleet.leader())?.holder === 'n1', 20_000, 50);
  const [first] = await waitFor('n1 to LISTEN', async () => ((await listenBackends(fleet, 'n1')).length === 1 ? listenBackends(fleet, 'n1') : null), 10_000, 50);

  await putServiceSpec(fleet.pool, { name: 'ping', instances: 1, releaseId: release }, 'test');
  // Waits at most 45 s (below the 60 s polling), and asks for much less.
  const placed = await timed('ping placed and running', async () => allRunning(await placements(fleet.pool, 'ping'), 1), 45_000);
  t.ok(placed < WITHIN_MS, `a new spec ran ${placed} ms later (polling alone: up to 2 × 60 s)`);

  // The server ends the LISTEN session: the node connects again on its own.
  await fleet.pool.query('SELECT pg_terminate_backend($1)', [first]);
  const [second] = await waitFor('a new LISTEN session', async () => {
    const pids = await listenBackends(fleet, 'n1');
    return pids.length === 1 && pids[0] !== first ? pids : null;
  }, 15_000, 50);
  t.not(second, first, `LISTEN is back on a new session (backend ${second})`);
  t.match(n1.output(), /LISTEN connection lost; polling until it is back/, 'the node said it lost it');

  await putServiceSpec(fleet.pool, { name: 'ping', instances: 2, releaseId: release }, 'test');
  const scaled = await timed('ping scaled to 2', async () => allRunning(await placements(fleet.pool, 'ping'), 2), 45_000);
  t.ok(scaled < WITHIN_MS, `scaled up ${scaled} ms after the change, on the new session`);
  await putServiceSpec(fleet.pool, { name: 'ping', instances: 0, releaseId: release }, 'test');
  const stopped = await timed('ping stopped on n1', async () => (await treeInstances(n1)).length === 0, 45_000);
  t.ok(stopped < WITHIN_MS, `scaled to 0: n1 stopped both instances ${stopped} ms after the change`);
  t.comment(`wake-ups with 60 s polling: placed ${placed} ms, scaled up ${scaled} ms (after a LISTEN reconnect), stopped ${stopped} ms`);
});

t.test('without HYDRA_LISTEN_DATABASE_URL a node gets there by polling', async (t) => {
  const fleet = await startFleet(t);
  const release = await addRelease(fleet.pool, RELEASE);
  const n1 = await fleet.start('n1', { env: { HYDRA_LISTEN_DATABASE_URL: '', HYDRA_RECONCILE_MS: '1000', HYDRA_SCHEDULER_TICK_MS: '1000' } });
  t.match(n1.output(), /HYDRA_LISTEN_DATABASE_URL is not set: changes are picked up by polling only/);
  t.same(await listenBackends(fleet, 'n1'), [], 'no LISTEN session');
  await waitFor('n1 to lead', async () => (await fleet.leader())?.holder === 'n1', 20_000, 50);
  await putServiceSpec(fleet.pool, { name: 'ping', instances: 1, releaseId: release }, 'test');
  await waitFor('ping running by polling', async () => allRunning(await placements(fleet.pool, 'ping'), 1), 30_000, 100);
  t.pass('placed and running');
});
