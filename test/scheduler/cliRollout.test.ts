/** `hydra scheduler deployments | deploy | rollback`, run as a user would (the built bin/hydra). */
import { hostname } from 'node:os';
import t from 'tap';
import type pg from 'pg';
import { reportActual } from '../../scheduler/placements.js';
import { stepDeployments } from '../../scheduler/rollout.js';
import { putServiceSpec } from '../../scheduler/specs.js';
import { inTransaction } from '../../core/pgTransaction.js';
import { addNode, addRelease, cliDatabase, leaderTick, lines } from './schedulerCli.js';

const R1 = 'aaaaaaa1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
const R2 = 'bbbbbbb2bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
const R3 = 'ccccccc3cccccccccccccccccccccccccccccccc';

/** Two nodes, parse#1 and #2 running release R1 on them, R2 ready and R3 still building. */
async function world(pool: pg.Pool): Promise<void> {
  await addNode(pool, 'n1');
  await addNode(pool, 'n2');
  const r1 = await addRelease(pool, R1);
  await addRelease(pool, R2);
  await addRelease(pool, R3, 'building');
  await putServiceSpec(pool, { name: 'parse', instances: 2, releaseId: r1 }, 'test');
  await leaderTick(pool);
}

/** One step of the leader's rollout loop. */
async function step(pool: pg.Pool): Promise<void> {
  await inTransaction(pool, (client) => stepDeployments(client, 'test-leader'));
}

const TIME = /\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ/g;

t.test('deploy records a rolling update; deployments lists release, previous, state, progress and times', async (t) => {
  const db = await cliDatabase(t);
  await world(db.pool);
  const deploy = await db.scheduler('deploy', 'parse', 'bbbbbbb2', '--max-parallel', '2', '--batch-timeout', '30000');
  t.equal(deploy.code, 0, deploy.stderr);
  t.equal(
    deploy.stdout,
    "deployment 1 of parse to bbbbbbb2bbbb (from aaaaaaa1aaaa) recorded: the leader rolls it out 2 nodes at a time from its next tick, each batch healthy within 30000 ms or the batch goes back; follow it with 'hydra scheduler deployments --service parse'\n",
  );
  await step(db.pool);

  const [human, json, limited] = await Promise.all([
    db.scheduler('deployments'),
    db.json<{ deployments: Array<Record<string, unknown>> }>('deployments', '--service', 'parse'),
    db.scheduler('deployments', '--service', 'parse', '--limit', '1'),
  ]);
  t.equal(human.code, 0, human.stderr);
  t.same(lines(human.stdout.replace(TIME, 'T')), [
    'ID | SERVICE | RELEASE | PREVIOUS | STATE | PROGRESS | CREATED | FINISHED | ERROR',
    '1 | parse | bbbbbbb2bbbb | aaaaaaa1aaaa | running | 0 done, 2 in batch (n1,n2) | T | - | -',
    '1 deployment (1 running)',
  ]);
  t.match(json.deployments, [{ id: 1, service: 'parse', commit: R2, previousCommit: R1, maxParallel: 2, batchTimeoutMs: 30000, state: 'running', progress: { done: [], batch: ['n1', 'n2'] }, error: null, actor: /^cli@/ }]);
  t.match(limited.stdout, /\n1 deployment \(1 running\); the latest 1 shown \(--limit\)\n$/);
});

t.test('deploy and deployments: bad values exit 2, unknown service or release and a refused deployment exit 1', async (t) => {
  const db = await cliDatabase(t);
  await world(db.pool);
  t.equal((await db.scheduler('deploy', 'parse', R2)).code, 0);
  const runs = await Promise.all([
    db.scheduler('deploy', 'parse', R2),
    db.scheduler('deploy', 'parse', 'ccccccc3'),
    db.scheduler('deploy', 'parse', '0000000'),
    db.scheduler('deploy', 'ghost', R2),
    db.scheduler('deployments', '--service', 'ghost'),
    db.scheduler('deploy', 'parse', R2, '--max-parallel', '0'),
    db.scheduler('deploy', 'parse', R2, '--batch-timeout', 'abc'),
    db.scheduler('deployments', '--limit', '-5'),
    db.scheduler('deploy', 'parse'),
    db.scheduler('deploy', 'parse', 'main'),
  ]);
  t.same(runs.map((r) => r.code), [1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
  const first = (i: number) => runs[i]!.stderr.split('\n')[0];
  t.equal(first(0), "hydra scheduler deploy: deployment 1 of 'parse' is still in progress; wait for it or roll it back with 'hydra scheduler rollback parse'");
  t.equal(first(1), 'hydra scheduler deploy: release ccccccc3cccc is building; only a ready release can be deployed');
  t.equal(first(2), "hydra scheduler deploy: release '0000000' is unknown; push it first (see 'hydra scheduler deployments')");
  t.equal(first(3), "hydra scheduler deploy: unknown service 'ghost' (known services: parse); define it with 'hydra scheduler place ghost …'");
  t.equal(first(4), "hydra scheduler deployments: unknown service 'ghost' (known services: parse); define it with 'hydra scheduler place ghost …'");
  t.equal(first(5), "hydra scheduler deploy: --max-parallel: '0' is invalid; expected a whole number of at least 1");
  t.equal(first(6), "hydra scheduler deploy: --batch-timeout: 'abc' is invalid; expected a whole number of at least 1");
  t.equal(first(7), "hydra scheduler deployments: --limit: '-5' is invalid; expected a whole number of at least 1");
  t.equal(first(8), 'hydra scheduler deploy: missing <commit>');
  t.equal(first(9), "hydra scheduler deploy: <commit>: 'main' is invalid; expected a commit id (7 to 40 hex digits)");
  const count = await db.pool.query('SELECT count(*)::int AS n FROM deployments');
  t.equal(count.rows[0].n, 1, 'only the first deployment was recorded');
});

t.test('rollback stops an unfinished deployment, or redeploys the release before the current one', async (t) => {
  const db = await cliDatabase(t);
  await world(db.pool);
  const [nothing, ghost] = await Promise.all([db.scheduler('rollback', 'parse'), db.scheduler('rollback', 'ghost')]);
  t.equal(nothing.code, 1);
  t.equal(nothing.stderr, "hydra scheduler rollback: service 'parse' has no earlier release to roll back to (no successful deployment brought it to its current release)\n");
  t.equal(ghost.code, 1);
  t.match(ghost.stderr, /^hydra scheduler rollback: unknown service 'ghost'/);

  await db.scheduler('deploy', 'parse', R2);
  await step(db.pool);
  const stopped = await db.scheduler('rollback', 'parse');
  t.equal(stopped.code, 0, stopped.stderr);
  t.equal(stopped.stdout, "deployment 1 of parse to bbbbbbb2bbbb stopped (rolled_back): the nodes it reached go back to aaaaaaa1aaaa on the leader's next tick, the others were never touched\n");
  const versions = await db.pool.query("SELECT DISTINCT desired_version FROM placements WHERE service = 'parse'");
  t.same(versions.rows, [{ desired_version: R1 }]);

  // A deployment that succeeds: both nodes report R2 running and healthy (no health window to wait out).
  await db.scheduler('deploy', 'parse', R2, '--max-parallel', '2', '--health-window', '0');
  await step(db.pool);
  for (const [node, instance] of (await db.pool.query<{ node_id: string; instance: number }>("SELECT node_id, instance FROM placements WHERE service = 'parse'")).rows.map((r) => [r.node_id, r.instance] as const)) {
    await reportActual(db.pool, node, [{ service: 'parse', instance, state: 'running', version: R2, port: 4000 + instance, pid: 100 + instance, healthy: true, detail: null }]);
  }
  await step(db.pool);
  const back = await db.scheduler('rollback', 'parse');
  t.equal(back.code, 0, back.stderr);
  t.equal(back.stdout, "parse rolls back to aaaaaaa1aaaa (from bbbbbbb2bbbb): deployment 3 recorded; the leader rolls it out from its next tick ('hydra scheduler deployments --service parse')\n");
  const listed = await db.scheduler('deployments');
  t.same(lines(listed.stdout.replace(TIME, 'T')).slice(1), [
    '3 | parse | aaaaaaa1aaaa | bbbbbbb2bbbb | pending | - | T | - | -',
    '2 | parse | bbbbbbb2bbbb | aaaaaaa1aaaa | succeeded | 2 done | T | T | -',
    `1 | parse | bbbbbbb2bbbb | aaaaaaa1aaaa | rolled_back | 0 done, 1 in batch (n1) | T | T | rolled back by cli@${hostname()}`,
    '3 deployments (1 pending, 1 succeeded, 1 rolled_back)',
  ]);
  // Rolling back the rollback while it is pending stops it.
  const again = await db.json<{ kind: string; deployment: Record<string, unknown> }>('rollback', 'parse');
  t.match(again, { kind: 'stopped', deployment: { id: 3, service: 'parse', commit: R1, previousCommit: R2, state: 'rolled_back' } });
});
