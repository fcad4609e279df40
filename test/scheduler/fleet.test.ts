/**
 * Three real node daemons against one PostgreSQL: placement honours constraints, pins and
 * spread and the instances really run there; a SIGKILLed node's unpinned instances run
 * elsewhere within the heartbeat timeout plus a tick, and their consumers handle the entries the
 * dead node left pending; drain empties a node; a rolling update goes node by node and a failing
 * release stops at the first batch and goes back.
 */
import t, { type Test } from 'tap';
import { Channel, createRedisTransport } from '../../channels/index.js';
import { runJobNow } from '../../scheduler/cron/cronRunner.js';
import { defineJob } from '../../scheduler/cron/jobs.js';
import { putServiceSpec } from '../../scheduler/specs.js';
import { setNodeAdminState } from '../../scheduler/registry.js';
import { startDeployment } from '../../scheduler/rollout.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { hydra } from './schedulerCli.js';
import { addRelease, allRunning, BAD_APP, placements, startFleet, TIMING, treeInstances, type Fleet } from './fleet.js';

const RELEASE_A = 'a'.repeat(40);
const RELEASE_B = 'b'.repeat(40);
const RELEASE_BAD = 'c'.repeat(40);
/** The child id and consumer name of sink's first instance running release A. */
const SINK_1 = `sink#1@${RELEASE_A.slice(0, 12)}`;

/** n1 first, so it leads; n2 and n3 are the workers. */
async function threeNodes(t: Test): Promise<Fleet> {
  const fleet = await startFleet(t);
  await fleet.start('n1', { labels: 'zone=a,role=leader' });
  await waitFor('n1 to lead', async () => (await fleet.leader())?.holder === 'n1', 20_000, 50);
  await Promise.all([fleet.start('n2', { labels: 'zone=b,role=worker,rack=r1' }), fleet.start('n3', { labels: 'zone=b,role=worker,rack=r2' })]);
  return fleet;
}

t.test('placement honours constraints, pins and spread, and the instances run where placed', async (t) => {
  const fleet = await threeNodes(t);
  const release = await addRelease(fleet.pool, RELEASE_A);
  await putServiceSpec(fleet.pool, { name: 'ping', instances: 3, releaseId: release }, 'test');
  await putServiceSpec(fleet.pool, { name: 'sink', instances: 2, constraints: { zone: 'b' }, spread: 'rack', releaseId: release }, 'test');
  // 'crashy' is a catalog entry too: pinned, it must land on n1 even though it cannot start there.
  await putServiceSpec(fleet.pool, { name: 'crashy', instances: 1, pinnedNode: 'n1', releaseId: release }, 'test');
  await putServiceSpec(fleet.pool, { name: 'nowhere', instances: 1, constraints: { zone: 'moon' }, module: 'services/ping.js', releaseId: release }, 'test');

  await waitFor('ping and sink running', async () => allRunning(await placements(fleet.pool, 'ping'), 3) && allRunning(await placements(fleet.pool, 'sink'), 2), 60_000, 100);
  const ping = await placements(fleet.pool, 'ping');
  t.same(ping.map((p) => p.node_id).sort(), ['n1', 'n2', 'n3'], 'spread: one ping per node');
  const sink = await placements(fleet.pool, 'sink');
  t.same(sink.map((p) => p.node_id).sort(), ['n2', 'n3'], 'constraint zone=b and spread over racks r1/r2');
  const [crashy] = await placements(fleet.pool, 'crashy');
  t.equal(crashy!.node_id, 'n1', 'pinned to n1');
  await waitFor('crashy reported failed on n1', async () => (await placements(fleet.pool, 'crashy'))[0]!.actual_state === 'failed', 30_000, 100);
  const detail = await fleet.pool.query<{ actual_detail: string }>("SELECT actual_detail FROM placements WHERE service = 'crashy'");
  t.match(detail.rows[0]!.actual_detail, /crashy refuses to start/, 'the start failure is reported with its reason');
  const [nowhere] = await placements(fleet.pool, 'nowhere');
  t.equal(nowhere!.node_id, null);
  t.match(nowhere!.unplaceable, /^no node matches constraints zone=moon \(nodes: n1\[.*\]/, 'an impossible spec is kept and reported unplaceable with the reason');
  const audit = await fleet.pool.query("SELECT detail FROM audit_events WHERE kind = 'placement.unplaceable' AND subject = 'nowhere#1'");
  t.equal(audit.rowCount, 1, 'the unplaceable instance is audited once');

  // The instances really run in each node's tree and answer on their reported ports.
  const trees = Object.fromEntries(await Promise.all([...fleet.nodes.values()].map(async (n) => [n.id, await treeInstances(n)] as const)));
  for (const p of [...ping, ...sink]) t.ok(trees[p.node_id!]!.includes(`${p.service}#${p.instance + 1}@${RELEASE_A.slice(0, 12)}`), `${p.service}#${p.instance + 1} runs on ${p.node_id} as child ${p.service}#${p.instance + 1}@${RELEASE_A.slice(0, 12)}`);
  for (const p of ping) {
    const res = await fetch(`http://127.0.0.1:${p.actual_port}/ping/`);
    t.match(await res.json(), { node: p.node_id, instance: `ping#${p.instance + 1}` });
  }

  // A cron job's service function reaches a real instance through the SDK's functions endpoint.
  await defineJob(fleet.pool, { name: 'stamp', schedule: '0 0 * * *', target: { kind: 'service_function', service: 'ping', function: 'stamp', args: { x: 1 } } }, 'test');
  const run = await runJobNow(fleet.pool, 'stamp', 'test');
  t.equal(run.state, 'succeeded');
  t.match(run.result, { status: 200, body: { result: { instance: /^ping#\d@aaaaaaaaaaaa$/, n: 1, args: { x: 1 } } } }, 'the function ran in a ping instance and its result was recorded');
  // The call went through the mailbox to the node running that instance, which called it on its own 127.0.0.1.
  const answered = run.result as { node: string; url: string; body: { result: { instance: string } } };
  const slot = Number(/^ping#(\d)@/.exec(answered.body.result.instance)![1]) - 1;
  t.equal(answered.node, ping.find((p) => p.instance === slot)!.node_id, 'answered by the node that runs the instance');
  t.match(answered.url, /^unix:\/.+\.sock:\/_hydra\/functions\/stamp$/, 'called on the instance\'s functions socket');
  t.match(fleet.nodes.get(answered.node)!.output(), /function call answered/, "that node's log shows the call");
  t.equal((await fleet.pool.query('SELECT 1 FROM function_calls')).rowCount, 0, 'no call is left in the mailbox');
  await defineJob(fleet.pool, { name: 'nofn', schedule: '0 0 * * *', target: { kind: 'service_function', service: 'ping', function: 'nosuch' } }, 'test');
  const missing = await runJobNow(fleet.pool, 'nofn', 'test');
  t.equal(missing.state, 'failed');
  t.match(missing.error, /404.*no function 'nosuch' in service ping \(functions: stamp, reset\)/, 'an unknown function fails with the reason');

  // reset is for operators: a cron job (role scheduler) is refused, `hydra scheduler call` runs it.
  await defineJob(fleet.pool, { name: 'reset', schedule: '0 0 * * *', target: { kind: 'service_function', service: 'ping', function: 'reset' } }, 'test');
  const refused = await runJobNow(fleet.pool, 'reset', 'test');
  t.match(refused, { state: 'failed', error: /answered 403: reset may be called as operator only; this call came as scheduler$/ }, 'a cron job may not call an operator-only function');
  const cli = (...args: string[]) => hydra({ DATABASE_URL: fleet.databaseUrl }, 'scheduler', 'call', ...args);
  const node = answered.node;
  const byOperator = await cli('ping.reset', '--args', '{"to":40}', '--node', node, '--json');
  t.equal(byOperator.code, 0, byOperator.stderr);
  t.match(JSON.parse(byOperator.stdout), { ok: true, node, status: 200, body: { result: { node, n: 40 } } }, 'an operator call ran it on the node asked for, with its argument');
  const people = await cli('ping.reset', '--node', node);
  t.match(people, { code: 0, stdout: new RegExp(`^ping\\.reset answered 200 on node ${node} in \\d+ ms: \\{"result":\\{"n":0,"node":"${node}","instance":"ping#\\d@aaaaaaaaaaaa"\\}\\}\\n$`) }, 'the default argument applies');
  t.match(await cli('ping.reset', '--args', '{"to":"forty"}'), { code: 1, stderr: /answered 400: reset: argument 'to': expected an integer, got "forty"/ }, 'a mistyped argument is refused by the instance, exit 1');
  t.match(await cli('ping.reset', '--args', '[1]'), { code: 2, stderr: /--args: '\[1\]' is invalid; expected a JSON object/ });
  t.match(await cli('ping'), { code: 2, stderr: /'ping' is invalid; expected SERVICE\.FUNCTION/ });
  t.match(await cli('nosuch.fn'), { code: 1, stderr: /no running instance of service nosuch to call fn on/ });

  // Stable: a further tick moves nothing.
  const before = await placements(fleet.pool);
  await sleep(TIMING.tickMs * 4); // several ticks pass: that nothing moves over them is the point
  t.same((await placements(fleet.pool)).map((p) => [p.service, p.instance, p.node_id]), before.map((p) => [p.service, p.instance, p.node_id]), 'nothing moves without a reason');
});

t.test('a SIGKILLed node: its instances run elsewhere and handle what it left pending; drain empties a node', async (t) => {
  const fleet = await threeNodes(t);
  const release = await addRelease(fleet.pool, RELEASE_A);
  await putServiceSpec(fleet.pool, { name: 'sink', instances: 1, constraints: { role: 'worker' }, releaseId: release }, 'test');
  await putServiceSpec(fleet.pool, { name: 'ping', instances: 2, constraints: { role: 'worker' }, releaseId: release }, 'test');
  await waitFor('sink and ping running', async () => allRunning(await placements(fleet.pool, 'sink'), 1) && allRunning(await placements(fleet.pool, 'ping'), 2), 60_000, 100);
  const victim = (await placements(fleet.pool, 'sink'))[0]!.node_id!;
  const survivor = victim === 'n2' ? 'n3' : 'n2';

  // Work the victim's sink#1 takes and holds: pending on consumer sink#1 when the node dies.
  const transport = createRedisTransport({ url: fleet.redis.url, keyPrefix: fleet.redis.prefix });
  t.teardown(() => transport.close());
  const work = new Channel(transport, 'work');
  await work.publishMany(Array.from({ length: 20 }, (_, n) => ({ type: 'work', v: 1, body: { n, holdOn: victim } })));
  // sink holds the batch it took (its first read returns as soon as one entry is there), so
  // that batch stays pending on sink#1 and the rest is not delivered yet.
  const held = await waitFor('entries to be pending on sink#1', async () => {
    const pending = (await fleet.redis.redis.xpending(`${fleet.redis.prefix}work`, 'sink')) as [number, string, string, [string, string][] | null];
    return pending[0] >= 1 ? pending : null;
  }, 20_000, 50);
  t.same(held[3], [[SINK_1, String(held[0])]], `${held[0]} entries pending on consumer ${SINK_1} when ${victim} dies`);

  const killedAt = performance.now();
  await fleet.kill(victim);
  await waitFor('sink#1 running on the survivor', async () => {
    const [p] = await placements(fleet.pool, 'sink');
    return p!.node_id === survivor && p!.actual_node === survivor && p!.actual_state === 'running';
  }, 30_000, 50);
  const movedMs = performance.now() - killedAt;
  const pingRows = await placements(fleet.pool, 'ping');
  t.ok(pingRows.every((p) => p.node_id === survivor), 'ping instances of the dead node moved too');
  t.comment(`sink#1 running on ${survivor} ${Math.round(movedMs)} ms after SIGKILL of ${victim} (node timeout ${TIMING.nodeTimeoutMs} ms + tick ${TIMING.tickMs} ms + start)`);
  // Detection within the node timeout + one tick, plus the instance's start (tsx): generous.
  t.ok(movedMs < TIMING.nodeTimeoutMs + TIMING.tickMs + 15_000, 'rescheduled in time');
  const moves = await fleet.pool.query<{ detail: { reason: string } }>("SELECT detail FROM audit_events WHERE kind = 'placement.moved' AND subject = 'sink#1'");
  t.equal(moves.rows[0]?.detail.reason, `node ${victim} is down`, 'the move is audited with its reason');

  const done = await waitFor('all 20 entries handled on the survivor', async () => {
    const entries = await fleet.redis.redis.xrange(`${fleet.redis.prefix}done`, '-', '+');
    return entries.length >= 20 ? entries : null;
  }, 30_000, 100);
  const bodies = done.map(([, fields]) => JSON.parse(fields[fields.indexOf('body') + 1]!) as { n: number; node: string; instance: string });
  t.same([...new Set(bodies.map((b) => b.n))].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i), 'every pending entry was handled');
  t.ok(bodies.every((b) => b.node === survivor && b.instance === SINK_1), `by ${SINK_1}, the same consumer, now on the survivor`);
  const pendingAfter = (await fleet.redis.redis.xpending(`${fleet.redis.prefix}work`, 'sink')) as [number];
  t.equal(pendingAfter[0], 0, 'nothing left pending');

  // Drain the survivor: its instances have nowhere to go (the other worker is dead) and say so.
  await setNodeAdminState(fleet.pool, survivor, 'draining', 'test');
  await waitFor(`${survivor} emptied`, async () => (await treeInstances(fleet.nodes.get(survivor)!)).length === 0, 30_000, 100);
  const drained = await placements(fleet.pool);
  t.ok(drained.every((p) => p.node_id === null && /draining|no node/.test(p.unplaceable ?? '')), 'drained instances are unplaceable with a reason, not dropped');
  // Undrain: they come back.
  await setNodeAdminState(fleet.pool, survivor, 'active', 'test');
  await waitFor('instances back on the survivor', async () => allRunning(await placements(fleet.pool, 'ping'), 2) && allRunning(await placements(fleet.pool, 'sink'), 1), 30_000, 100);
});

t.test('drain moves a node\'s instances to the others; a rolling update goes node by node; a failing release stops and goes back', async (t) => {
  const fleet = await threeNodes(t);
  const a = await addRelease(fleet.pool, RELEASE_A);
  await addRelease(fleet.pool, RELEASE_B);
  await addRelease(fleet.pool, RELEASE_BAD, BAD_APP);
  await putServiceSpec(fleet.pool, { name: 'ping', instances: 3, releaseId: a }, 'test');
  await waitFor('ping running', async () => allRunning(await placements(fleet.pool, 'ping'), 3), 60_000, 100);

  await setNodeAdminState(fleet.pool, 'n3', 'draining', 'test');
  await waitFor('n3 emptied and its instance running elsewhere', async () => {
    const rows = await placements(fleet.pool, 'ping');
    return allRunning(rows, 3) && rows.every((p) => p.node_id !== 'n3') && (await treeInstances(fleet.nodes.get('n3')!)).length === 0;
  }, 30_000, 100);
  await setNodeAdminState(fleet.pool, 'n3', 'active', 'test');

  const deployment = await startDeployment(fleet.pool, { service: 'ping', release: RELEASE_B, maxParallel: 1, batchTimeoutMs: 30_000, healthWindowMs: 1_000, actor: 'test' });
  const batches: string[][] = [];
  await waitFor('deployment B to finish', async () => {
    const r = await fleet.pool.query<{ state: string; progress: { batch: string[] } }>('SELECT state, progress FROM deployments WHERE id = $1', [deployment.id]);
    const row = r.rows[0]!;
    const batch = row.progress.batch ?? [];
    if (batch.length > 0 && JSON.stringify(batches.at(-1)) !== JSON.stringify(batch)) batches.push(batch);
    return row.state === 'succeeded' ? true : row.state === 'failed' ? Promise.reject(new Error('deployment failed')) : null;
  }, 60_000, 25);
  t.ok(batches.every((b) => b.length === 1), `one node at a time (batches ${JSON.stringify(batches)})`);
  const rows = await placements(fleet.pool, 'ping');
  t.ok(rows.every((p) => p.actual_version === RELEASE_B && p.actual_state === 'running'), 'every instance runs release B');
  const spec = await fleet.pool.query<{ release_id: string }>("SELECT release_id FROM service_specs WHERE name = 'ping'");
  t.not(Number(spec.rows[0]!.release_id), a, 'the spec now names release B');

  const bad = await startDeployment(fleet.pool, { service: 'ping', release: RELEASE_BAD, maxParallel: 1, batchTimeoutMs: 30_000, healthWindowMs: 1_000, actor: 'test' });
  const failed = await waitFor('the bad deployment to fail', async () => {
    const r = await fleet.pool.query<{ state: string; error: string | null }>('SELECT state, error FROM deployments WHERE id = $1', [bad.id]);
    return r.rows[0]!.state === 'failed' ? r.rows[0]! : null;
  }, 60_000, 50);
  t.match(failed.error, /^ping#\d on n\d failed with release cccccccccccc: .*crashy refuses to start/, 'the failure names the instance, node and reason');
  await waitFor('every instance back on release B', async () => {
    const rows = await placements(fleet.pool, 'ping');
    return allRunning(rows, 3) && rows.every((p) => p.actual_version === RELEASE_B && p.desired_version === RELEASE_B);
  }, 30_000, 100);
  t.pass('the failed batch went back to the previous release; the other nodes were never touched');
});
