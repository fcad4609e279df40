/**
 * A hot swap on a real node, with a v1 → v2 message change: the consumer's new release reads
 * `work@2`, while `work@1` entries are still waiting in the channel. The new instance starts
 * beside the old one, the old one finishes and acks its batch, and every entry — written as v1
 * before the deploy or as v2 after it — is handled exactly once.
 */
import t from 'tap';
import { Channel, createRedisTransport } from '../../channels/index.js';
import { startDeployment } from '../../scheduler/rollout.js';
import { putServiceSpec } from '../../scheduler/specs.js';
import { waitFor } from '../helpers/wait.js';
import { addRelease, allRunning, placements, startFleet, treeInstances } from './fleet.js';
import { fileURLToPath } from 'node:url';

const APP_V2 = fileURLToPath(new URL('./fixtures/appv2', import.meta.url));
const V1 = '1'.repeat(40);
const V2 = '2'.repeat(40);

interface Done {
  n: number;
  instance: string;
  v: number;
  weight?: number;
}

t.test('v1 → v2 consumer swapped while v1 entries wait in the channel: all handled once', async (t) => {
  const fleet = await startFleet(t);
  const v1 = await addRelease(fleet.pool, V1);
  await addRelease(fleet.pool, V2, APP_V2);
  const node = await fleet.start('n1');
  await putServiceSpec(fleet.pool, { name: 'sink', instances: 1, releaseId: v1, config: { SINK_DELAY_MS: '10' } }, 'test');
  await waitFor('sink v1 running', async () => allRunning(await placements(fleet.pool, 'sink'), 1), 60_000, 100);

  const transport = createRedisTransport({ url: fleet.redis.url, keyPrefix: fleet.redis.prefix });
  t.teardown(() => transport.close());
  const work = new Channel(transport, 'work');
  // 400 × 10 ms: a backlog of seconds, so the swap lands while v1 entries are unread.
  await work.publishMany(Array.from({ length: 400 }, (_, n) => ({ type: 'work', v: 1, body: { n } })));
  await startDeployment(fleet.pool, { service: 'sink', release: V2, healthWindowMs: 500, batchTimeoutMs: 30_000, actor: 'test' });
  const swapped = await waitFor('sink v2 running', async () => {
    const [p] = await placements(fleet.pool, 'sink');
    return p!.actual_version === V2 && p!.actual_state === 'running' ? p : null;
  }, 60_000, 20);
  const backlog = await fleet.redis.redis.xlen(`${fleet.redis.prefix}done`);
  t.ok(backlog < 400, `the swap happened with v1 entries unread (${400 - backlog} of 400 still to handle)`);
  // Producers upgraded after the deploy write v2.
  await work.publishMany(Array.from({ length: 50 }, (_, i) => ({ type: 'work', v: 2, body: { n: 400 + i, weight: 2 } })));

  const done = await waitFor('all 450 entries handled', async () => {
    const entries = await fleet.redis.redis.xrange(`${fleet.redis.prefix}done`, '-', '+');
    return entries.length >= 450 ? entries : null;
  }, 60_000, 100);
  const bodies = done.map(([, f]) => JSON.parse(f[f.indexOf('body') + 1]!) as Done);
  const ns = bodies.map((b) => b.n).sort((a, b) => a - b);
  t.same(ns, Array.from({ length: 450 }, (_, i) => i), 'every entry handled exactly once (no loss, no duplicate)');
  const byV1 = bodies.filter((b) => b.instance === `sink#1@${V1.slice(0, 12)}`);
  const byV2 = bodies.filter((b) => b.instance === `sink#1@${V2.slice(0, 12)}`);
  t.ok(byV1.length > 0 && byV2.length > 0, `both versions handled part of it (v1 ${byV1.length}, v2 ${byV2.length})`);
  t.ok(byV1.every((b) => b.v === 1), 'the v1 instance read v1');
  const upcast = byV2.filter((b) => b.n < 400);
  t.ok(upcast.length > 0 && upcast.every((b) => b.v === 2 && b.weight === 1), `v1 entries reached the v2 instance upcast to v2 (${upcast.length})`);
  t.ok(byV2.filter((b) => b.n >= 400).every((b) => b.weight === 2), 'v2 entries as written');
  const pending = (await fleet.redis.redis.xpending(`${fleet.redis.prefix}work`, 'sink')) as [number];
  t.equal(pending[0], 0, 'nothing left pending');
  t.same(await treeInstances(node), [`sink#1@${V2.slice(0, 12)}`], 'only the v2 instance runs');
  t.equal(swapped.node_id, 'n1');
});
