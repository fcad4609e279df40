/**
 * Channel contract, delivery: order within a consumer, acknowledgement, fan-out to groups and
 * work sharing inside a group. Runs against both transports.
 */
import t from 'tap';
import { Channel, type Envelope } from '../../../channels/index.js';
import { waitFor } from '../../helpers/wait.js';
import { forEachTransport } from './transports.js';

const msgs = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ type: 'test.item', v: 1, body: { n: from + i } }));

forEachTransport(t, async (t, transport) => {
  t.test('a consumer receives entries in publish order and acknowledges them', async (t) => {
    const channel = new Channel(transport, 'order');
    const ids = await channel.publishMany(msgs(250));
    const seen: Envelope[] = [];
    const consumer = channel.consume({ group: 'g', consumer: 'c1', batchSize: 40, blockMs: 50 }, (batch) => {
      seen.push(...batch);
    });
    await waitFor('all 250 handled', () => seen.length === 250);
    await consumer.stop();
    t.same(seen.map((m) => m.id), ids, 'ids in publish order');
    t.same(seen.map((m) => (m.body as { n: number }).n), [...Array(250).keys()], 'bodies in publish order');
    t.match(seen[0], { type: 'test.item', v: 1 }, 'envelope carries type and version');
    t.type(seen[0]!.ts, 'number');
    const [group] = await channel.groups();
    t.same(group, { name: 'g', pending: 0, lag: 0 }, 'everything acknowledged, nothing left to deliver');
    t.equal(consumer.stats.acked, 250);
  });

  t.test('each of two groups receives every entry', async (t) => {
    const channel = new Channel(transport, 'fanout');
    await channel.publishMany(msgs(100));
    const got: Record<string, number[]> = { a: [], b: [] };
    const consumers = ['a', 'b'].map((g) =>
      channel.consume({ group: g, consumer: 'c', blockMs: 50 }, (batch) => {
        got[g]!.push(...batch.map((m) => (m.body as { n: number }).n));
      }),
    );
    await waitFor('both groups done', () => got.a!.length === 100 && got.b!.length === 100);
    await Promise.all(consumers.map((c) => c.stop()));
    t.same(got.a, [...Array(100).keys()]);
    t.same(got.b, [...Array(100).keys()]);
  });

  t.test('consumers of one group share the work and none handles an entry twice', async (t) => {
    const channel = new Channel(transport, 'share');
    const handledBy = new Map<string, string[]>();
    const consumers = ['c1', 'c2', 'c3'].map((name) =>
      channel.consume({ group: 'g', consumer: name, batchSize: 5, blockMs: 20 }, async (batch) => {
        for (const m of batch) handledBy.set(m.id, [...(handledBy.get(m.id) ?? []), name]);
        await new Promise((r) => setTimeout(r, 5)); // slow enough that all three get turns
      }),
    );
    await Promise.all(consumers.map((c) => c.ready));
    for (let i = 0; i < 10; i++) await channel.publishMany(msgs(30, i * 30));
    await waitFor('300 handled', () => handledBy.size === 300);
    await Promise.all(consumers.map((c) => c.stop()));
    const twice = [...handledBy.values()].filter((who) => who.length > 1);
    t.equal(twice.length, 0, 'no entry handled twice');
    const perConsumer = consumers.map((c) => c.stats.handled);
    t.equal(perConsumer.reduce((a, b) => a + b, 0), 300, 'handled counts add up');
    t.ok(perConsumer.filter((n) => n > 0).length >= 2, `work was shared (${perConsumer.join('/')})`);
  });
});
