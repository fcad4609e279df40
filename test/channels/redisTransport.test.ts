/**
 * Redis-only behaviour the contract suite cannot show for the memory transport: the group
 * vanishing under a running consumer (Redis restarted without its data, or XGROUP DESTROY).
 */
import t from 'tap';
import { Channel, createRedisTransport } from '../../channels/index.js';
import { testRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

t.test('a consumer recreates a vanished group from its last acknowledged id, not from $', async (t) => {
  const { url, prefix, redis } = await testRedis(t);
  const transport = createRedisTransport({ url, keyPrefix: prefix });
  t.teardown(() => transport.close());
  const channel = new Channel(transport, 'nogroup', { retentionIntervalMs: 0 });
  const handled: number[] = [];
  const consumer = channel.consume({ group: 'g', consumer: 'c', blockMs: 100 }, (batch) => {
    handled.push(...batch.map((m) => (m.body as { n: number }).n));
  });
  await channel.publishMany([0, 1, 2, 3, 4].map((n) => ({ type: 't', v: 1, body: { n } })));
  await waitFor('first five handled', () => handled.length === 5);

  await redis.xgroup('DESTROY', `${prefix}nogroup`, 'g');
  await channel.publishMany([5, 6, 7].map((n) => ({ type: 't', v: 1, body: { n } })));
  await waitFor('entries after the loss handled', () => handled.includes(7));
  await consumer.stop();
  t.same(handled, [0, 1, 2, 3, 4, 5, 6, 7], 'nothing published after the last acknowledgement was skipped');
  t.same((await channel.groups())[0], { name: 'g', pending: 0, lag: 0 });
});

t.test('a consumer survives a dropped connection and carries on', async (t) => {
  const { url, prefix, redis } = await testRedis(t);
  const transport = createRedisTransport({ url, keyPrefix: prefix });
  t.teardown(() => transport.close());
  const channel = new Channel(transport, 'reconnect', { retentionIntervalMs: 0 });
  const handled: number[] = [];
  const errors: unknown[] = [];
  const consumer = channel.consume({ group: 'g', consumer: 'c', blockMs: 200, onError: (e) => errors.push(e) }, (batch) => {
    handled.push(...batch.map((m) => (m.body as { n: number }).n));
  });
  await consumer.ready;
  // Kill every connection of this test's consumer from the server side, blocked read included.
  const id = await waitFor('the blocked read', async () => {
    const clients = (await redis.client('LIST')) as string;
    const line = clients.split('\n').find((l) => l.includes(`name=${prefix}reconnect/g/c `) && l.includes('cmd=xreadgroup'));
    return line ? /\bid=(\d+)/.exec(line)?.[1] : undefined;
  });
  await redis.client('KILL', 'ID', id);
  await channel.publishMany([1, 2, 3].map((n) => ({ type: 't', v: 1, body: { n } })));
  await waitFor('handled after reconnect', () => handled.length === 3);
  await consumer.stop();
  t.same(handled, [1, 2, 3]);
});
