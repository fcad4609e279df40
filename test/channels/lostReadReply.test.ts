/**
 * Redis transport: a blocking read whose reply is lost when the connection drops. Redis has
 * delivered the entries (they are pending under the consumer) but the reply never arrives, and
 * ioredis resends the read after reconnecting, which only returns newer entries. The consumer
 * must notice and re-read its own pending entries at once, not leave them to the claim janitor
 * (claimIdleMs later). Staged with a TCP proxy that swallows the server's replies, then cuts.
 */
import t from 'tap';
import { Channel, createRedisTransport } from '../../channels/index.js';
import { tcpProxy } from '../chaos/tcpProxy.js';
import { testRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

t.test('entries delivered by a read whose reply was lost are handled soon after the reconnect', async (t) => {
  const redis = await testRedis(t);
  const proxy = await tcpProxy(t, { port: Number(new URL(redis.url).port || 6379), host: new URL(redis.url).hostname });
  // The consumer talks through the proxy; the producer directly.
  const viaProxy = createRedisTransport({ url: `redis://127.0.0.1:${proxy.port}`, keyPrefix: redis.prefix });
  const direct = createRedisTransport({ url: redis.url, keyPrefix: redis.prefix });
  t.teardown(() => Promise.all([viaProxy.close(), direct.close()]));
  const handled: number[] = [];
  const consumer = new Channel(viaProxy, 'lost-reply').consume(
    { group: 'g', consumer: 'c1', blockMs: 5_000, claimIdleMs: 60_000, onError: () => undefined },
    (batch) => void handled.push(...batch.map((m) => (m.body as { n: number }).n)),
  );
  t.teardown(() => consumer.stop());
  await consumer.ready;
  await waitFor('the consumer blocked in XREADGROUP', async () => {
    const clients = (await redis.redis.client('LIST')) as string;
    return clients.split('\n').some((l) => l.includes(`name=${redis.prefix}lost-reply/g/c1 `) && / flags=\S*b/.test(l) && l.includes('cmd=xreadgroup'));
  });
  proxy.mute();
  const producer = new Channel(direct, 'lost-reply');
  await producer.publishMany([0, 1, 2].map((n) => ({ type: 't', v: 1, body: { n } })));
  // The blocked read is served with the first entry only (Redis answers it on the first XADD).
  await waitFor('Redis to deliver to c1 (pending; its reply swallowed)', async () => ((await producer.groups())[0]?.pending ?? 0) > 0);
  proxy.cut();
  proxy.restore();
  const started = Date.now();
  await waitFor('the three entries handled', () => handled.length >= 3, 20_000, 20);
  t.ok(Date.now() - started < 15_000, `handled ${Date.now() - started} ms after the reconnect, long before the claim (60 s)`);
  t.same([...handled].sort(), [0, 1, 2], 'each once');
  await waitFor('acknowledged', async () => (await producer.groups())[0]?.pending === 0);
});
