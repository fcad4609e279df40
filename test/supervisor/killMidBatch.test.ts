/**
 * The promise the whole platform rests on, end to end: a consuming service under a supervisor,
 * killed with SIGKILL mid-batch while a steady stream flows over Redis, is restarted and every
 * message is still processed; none lost (duplicates allowed: delivery is at-least-once).
 */
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { Channel, createRedisTransport } from '../../channels/index.js';
import { serviceChildSpec } from '../../runtime/serviceChild.js';
import { Supervisor } from '../../supervisor/supervisor.js';
import type { SupervisorReport } from '../../supervisor/types.js';
import { testRedis } from '../helpers/redis.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { alive } from './workers.js';

const ECHO = fileURLToPath(new URL('../runtime/fixtures/echoService.ts', import.meta.url));
const TOTAL = 2_000;
const PER_TICK = 10;
const TICK_MS = 20; // 10 every 20 ms: ~500 messages/s
const KILLS = 4;

t.test('a consuming service killed with SIGKILL mid-batch under a steady stream over Redis: it restarts and every message is processed, none lost', async (t) => {
  const { url, prefix, redis } = await testRedis(t);
  const transport = createRedisTransport({ url, keyPrefix: prefix });
  t.teardown(() => transport.close());
  const a = new Channel(transport, 'a', { highWaterMark: 100_000 });
  const reports: SupervisorReport[] = [];
  const sup = new Supervisor(
    {
      id: 'services',
      strategy: 'one_for_one',
      intensity: 10,
      periodMs: 10_000,
      backoffInitialMs: 50,
      children: [
        serviceChildSpec({
          id: 'echo#1',
          module: ECHO,
          version: '1.0.0',
          // 40 ms per batch of up to 50: at 500/s the instance is nearly always holding a batch.
          env: { REDIS_URL: url, HYDRA_KEY_PREFIX: prefix, ECHO_DELAY_MS: '40', ECHO_BATCH_SIZE: '50' },
          startTimeoutMs: 20_000,
          output: () => undefined,
        }),
      ],
    },
    { onReport: (r) => reports.push(r) },
  );
  await sup.start();
  t.teardown(() => sup.stop());
  const child = () => sup.whichChildren()[0]!;

  let published = 0;
  const producer = (async () => {
    while (published < TOTAL) {
      const tick = Date.now();
      const batch = Array.from({ length: PER_TICK }, (_, i) => ({ type: 'num', v: 1, body: { n: published + i } }));
      await a.publishMany(batch);
      published += PER_TICK;
      await sleep(Math.max(0, TICK_MS - (Date.now() - tick))); // paces the load: PER_TICK every TICK_MS
    }
  })();

  const pids: number[] = [];
  let midBatch = 0;
  for (let k = 0; k < KILLS; k++) {
    await sleep(300); // lets the (restarted) service work a while under load before the next kill
    const running = await waitFor('the service running', () => (child().state === 'running' && child().pid ? child() : null), 30_000);
    // A kill while entries are delivered and unacknowledged is a kill mid-batch.
    const [pendingNow] = (await redis.xpending(`${prefix}a`, 'echo')) as [number];
    process.kill(running.pid!, 'SIGKILL');
    pids.push(running.pid!);
    if (pendingNow > 0) midBatch++;
    t.comment(`kill ${k + 1}: pid ${running.pid} at ${published} published, ${pendingNow} entries in hand`);
    await waitFor('the service restarted', () => child().state === 'running' && child().pid !== running.pid, 30_000);
  }
  await producer;
  t.equal(published, TOTAL, 'the whole stream was published');

  const seen = new Map<number, number>();
  await waitFor(
    'every sequence number in b',
    async () => {
      seen.clear();
      const rows = (await redis.xrange(`${prefix}b`, '-', '+')) as Array<[string, string[]]>;
      for (const [, flat] of rows) {
        const n = (JSON.parse(flat[flat.indexOf('body') + 1]!) as { n: number }).n;
        seen.set(n, (seen.get(n) ?? 0) + 1);
      }
      return seen.size === TOTAL;
    },
    60_000,
    200,
  );
  await waitFor('a fully acknowledged', async () => {
    const [g] = await a.groups();
    return g?.pending === 0 && g.lag === 0;
  });

  const missing = Array.from({ length: TOTAL }, (_, n) => n).filter((n) => !seen.has(n));
  const duplicates = [...seen.values()].reduce((sum, c) => sum + c - 1, 0);
  t.same(missing, [], 'no sequence number lost');
  t.equal((await a.groups())[0]?.pending, 0, "a's group has nothing pending");
  t.comment(`${TOTAL} messages, ${KILLS} kills (${midBatch} with entries in hand), ${duplicates} duplicates in b`);
  t.ok(midBatch > 0, 'at least one kill landed mid-batch');
  t.equal(child().restarts, KILLS, 'restarted once per kill');
  t.equal(reports.filter((r) => r.context === 'child_terminated' && /SIGKILL/.test(r.reason)).length, KILLS, 'each kill reported');
  t.equal((await a.deadLetters()).length, 0, 'nothing dead-lettered');
  await sup.stop();
  t.ok(pids.every((pid) => !alive(pid)) && !alive(child().pid), 'no process left behind');
});
