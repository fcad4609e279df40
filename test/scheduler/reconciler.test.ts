/**
 * The reconciler against a real database and a ServicesHost that records what it is asked (the
 * node's real host is covered by the fleet tests): a release still being built on the node is
 * reported as starting with the reason, asked again on every pass and never backed off; a slot
 * whose start failed waits out its backoff for the same request, but a new release is tried at once.
 */
import t from 'tap';
import { ReleasePreparing, type HostedInstance, type InstanceRequest, type ServicesHost } from '../../scheduler/reconcile/servicesHost.js';
import { Reconciler } from '../../scheduler/reconcile/reconciler.js';
import { startDeployment, stepDeployments } from '../../scheduler/rollout.js';
import { putServiceSpec } from '../../scheduler/specs.js';
import { migrate } from '../../scheduler/store/migrate.js';
import { createLogger } from '../../core/log.js';
import { testDatabase } from '../helpers/postgres.js';
import { addNode, addRelease, leaderTick } from './schedulerCli.js';
import { inTransaction } from '../../core/pgTransaction.js';

const V1 = 'a'.repeat(40);
const V2 = 'b'.repeat(40);

/** A host whose start() answers what `outcome` says for each request, and remembers every call. */
function recordingHost(outcome: (r: InstanceRequest) => 'start' | 'preparing' | 'fail') {
  const running = new Map<string, HostedInstance>();
  const calls: string[] = [];
  const host: ServicesHost = {
    ready: () => true,
    instances: () => [...running.values()],
    async start(request) {
      calls.push(request.version ?? 'own');
      const o = outcome(request);
      if (o === 'preparing') throw new ReleasePreparing(`building release ${request.version?.slice(0, 12)} on this node (npm ci, 3 s so far)`);
      if (o === 'fail') throw new Error(`module of ${request.version?.slice(0, 12)} does not load`);
      const id = `${request.slot}@${request.version?.slice(0, 12)}`;
      running.set(id, { id, state: 'running', pid: 4242, port: 7100, restarts: 0, healthy: true, counters: {}, detail: null, request });
    },
    async stop(id) {
      running.delete(id);
    },
  };
  return { host, calls };
}

async function actual(pool: import('pg').Pool): Promise<{ actual_state: string; actual_detail: string | null; actual_version: string | null }> {
  const r = await pool.query<{ actual_state: string; actual_detail: string | null; actual_version: string | null }>("SELECT actual_state, actual_detail, actual_version FROM placements WHERE service = 'alpha'");
  return r.rows[0]!;
}

async function world(t: Parameters<typeof testDatabase>[0]) {
  const db = await testDatabase(t);
  await migrate(db.pool);
  await addNode(db.pool, 'n1');
  const v1 = await addRelease(db.pool, V1);
  await addRelease(db.pool, V2);
  await putServiceSpec(db.pool, { name: 'alpha', releaseId: v1 }, 'test');
  await leaderTick(db.pool);
  return db.pool;
}

const log = createLogger({}, { write: () => undefined });

t.test('a release being built on the node: reported starting with the reason, asked again every pass', async (t) => {
  const pool = await world(t);
  let building = 3;
  const { host, calls } = recordingHost(() => (building-- > 0 ? 'preparing' : 'start'));
  const r = new Reconciler({ nodeId: 'n1', store: { pool }, host, intervalMs: 60_000, log });
  await r.tick();
  t.match(await actual(pool), { actual_state: 'starting', actual_detail: /^building release aaaaaaaaaaaa on this node \(npm ci/ }, 'starting, and why');
  await r.tick();
  await r.tick();
  t.equal(calls.length, 3, 'each pass asks again (no failure backoff while building)');
  await r.tick();
  t.same(calls, [V1, V1, V1, V1]);
  t.match(await actual(pool), { actual_state: 'running', actual_detail: null, actual_version: V1 }, 'running once the release is there');
});

t.test('a failed start backs off for the same request; a new release is tried at once', async (t) => {
  const pool = await world(t);
  const { host, calls } = recordingHost((req) => (req.version === V1 ? 'fail' : 'start'));
  const r = new Reconciler({ nodeId: 'n1', store: { pool }, host, intervalMs: 60_000, log });
  await r.tick();
  t.match(await actual(pool), { actual_state: 'failed', actual_detail: /does not load/ });
  await r.tick();
  t.equal(calls.length, 1, 'the same request is not retried inside its backoff');
  await startDeployment(pool, { service: 'alpha', release: V2, healthWindowMs: 0, batchTimeoutMs: 30_000, actor: 'test' });
  await inTransaction(pool, (c) => stepDeployments(c, 'test-leader'));
  await r.tick();
  t.same(calls, [V1, V2], 'the new release was started on the next pass, not after the backoff');
  t.match(await actual(pool), { actual_state: 'running', actual_version: V2 });
});
