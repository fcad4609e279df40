/**
 * Channel contract, failures: retry, dead-letter after maxDeliveries with the error text, and
 * entries that cannot be decoded or converted. Runs against both transports.
 */
import t from 'tap';
import { Channel, Upcasters } from '../../../channels/index.js';
import { waitFor } from '../../helpers/wait.js';
import { forEachTransport } from './transports.js';

forEachTransport(t, async (t, transport) => {
  t.test('a failing entry is retried, then dead-lettered with the error after maxDeliveries', async (t) => {
    const channel = new Channel(transport, 'poison');
    const ids = await channel.publishMany([0, 1, 2, 3].map((n) => ({ type: 'test.item', v: 1, body: { n } })));
    const attempts = new Map<number, number>();
    const good: number[] = [];
    const consumer = channel.consume({ group: 'g', consumer: 'c', blockMs: 50, maxDeliveries: 3, retryDelayMs: 50 }, (batch) => {
      for (const m of batch) {
        const n = (m.body as { n: number }).n;
        attempts.set(n, (attempts.get(n) ?? 0) + 1);
        if (n === 2) throw new Error('voltage out of range for item 2');
      }
      good.push(...batch.map((m) => (m.body as { n: number }).n));
    });
    await waitFor('dead letter written', async () => (await channel.deadLetters()).length === 1);
    await waitFor('others handled', () => consumer.stats.handled === 3);
    await consumer.stop();
    t.same(good.sort(), [0, 1, 3], 'the other entries were handled and acknowledged despite the poison in their batch');
    const [dead] = await channel.deadLetters();
    t.match(dead, { originalId: ids[2], group: 'g', consumer: 'c', deliveries: 3, error: /voltage out of range for item 2/ });
    t.same(JSON.parse(dead!.fields.body!), { n: 2 }, 'dead letter carries the original entry');
    t.equal(consumer.stats.deadLettered, 1);
    t.same((await channel.groups())[0]?.pending, 0, 'the dead-lettered entry is acknowledged');
  });

  t.test('an entry that succeeds on retry is not dead-lettered', async (t) => {
    const channel = new Channel(transport, 'flaky');
    await channel.publish({ type: 'test.item', v: 1, body: {} });
    let calls = 0;
    const consumer = channel.consume({ group: 'g', consumer: 'c', blockMs: 50, maxDeliveries: 3, retryDelayMs: 50 }, () => {
      calls++;
      if (calls < 3) throw new Error('database busy');
    });
    await waitFor('handled', () => consumer.stats.handled === 1);
    await consumer.stop();
    t.equal(calls, 3, 'failed twice, succeeded the third time');
    t.same(await channel.deadLetters(), []);
  });

  t.test('an undecodable entry goes to the dead-letter stream and the consumer keeps going', async (t) => {
    const channel = new Channel(transport, 'garbage');
    await channel.publish({ type: 'test.item', v: 1, body: { n: 1 } });
    // Written by hand, past the envelope checks: no version, body not JSON.
    await transport.append('garbage', [{ type: 'test.item', body: '{"n":' }, { junk: 'x' }]);
    await channel.publish({ type: 'test.item', v: 1, body: { n: 2 } });
    const got: number[] = [];
    const consumer = channel.consume({ group: 'g', consumer: 'c', blockMs: 50 }, (batch) => {
      got.push(...batch.map((m) => (m.body as { n: number }).n));
    });
    await waitFor('two dead letters', async () => (await channel.deadLetters()).length === 2);
    await waitFor('good ones handled', () => got.length === 2);
    await consumer.stop();
    t.same(got, [1, 2]);
    const dead = await channel.deadLetters();
    t.match(dead[0], { deliveries: 1, error: /undecodable entry: .*field 'v'.*missing/ });
    t.same(dead[0]!.fields, { type: 'test.item', body: '{"n":' }, 'the bad entry is kept verbatim');
    t.match(dead[1], { error: /undecodable entry: .*field 'type'.*missing/ });
    t.same((await channel.groups())[0]?.pending, 0);
  });

  t.test('a consumer that wants v2 gets v2 whatever version was written', async (t) => {
    const registry = new Upcasters()
      .register('reading', 1, 2, (b) => ({ millivolts: (b as { volts: number }).volts * 1000 }))
      .register('reading', 2, 3, (b) => ({ ...(b as object), unit: 'mV' }));
    const channel = new Channel(transport, 'versions', { upcasters: registry });
    await channel.publishMany([
      { type: 'reading', v: 1, body: { volts: 3 } },
      { type: 'reading', v: 2, body: { millivolts: 4500 } },
      { type: 'other', v: 7, body: 'as written' },
    ]);
    const v2: unknown[] = [];
    const v3: unknown[] = [];
    const c2 = channel.consume({ group: 'v2', consumer: 'c', blockMs: 50, versions: { reading: 2 } }, (batch) => {
      v2.push(...batch.map((m) => [m.type, m.v, m.body]));
    });
    const c3 = channel.consume({ group: 'v3', consumer: 'c', blockMs: 50, versions: { reading: 3 } }, (batch) => {
      v3.push(...batch.map((m) => [m.type, m.v, m.body]));
    });
    await waitFor('both converted', () => v2.length === 3 && v3.length === 3);
    await Promise.all([c2.stop(), c3.stop()]);
    t.same(v2, [['reading', 2, { millivolts: 3000 }], ['reading', 2, { millivolts: 4500 }], ['other', 7, 'as written']]);
    t.same(v3, [['reading', 3, { millivolts: 3000, unit: 'mV' }], ['reading', 3, { millivolts: 4500, unit: 'mV' }], ['other', 7, 'as written']]);
  });

  t.test('an entry no upcaster can convert is dead-lettered with the reason', async (t) => {
    const channel = new Channel(transport, 'noupcast', { upcasters: new Upcasters() });
    await channel.publish({ type: 'reading', v: 1, body: {} });
    const consumer = channel.consume({ group: 'g', consumer: 'c', blockMs: 50, versions: { reading: 2 } }, () => {
      throw new Error('handler must not see it');
    });
    await waitFor('dead letter', async () => (await channel.deadLetters()).length === 1);
    await consumer.stop();
    t.match((await channel.deadLetters())[0]?.error, /cannot convert reading@1 to reading@2/);
  });

  t.test('a handler dead-letters an entry it can never handle, the rest of the batch is acknowledged', async (t) => {
    const channel = new Channel(transport, 'reject');
    const ids = await channel.publishMany([1, 2, 3].map((n) => ({ type: 'frame', v: 1, body: { n } })));
    let calls = 0;
    const consumer = channel.consume({ group: 'g', consumer: 'c', blockMs: 50 }, (batch, ctx) => {
      calls++;
      for (const m of batch) if ((m.body as { n: number }).n === 2) ctx.deadLetter(m.id, 'authentication failed (wrong key or tampered frame)');
    });
    await waitFor('handled', () => consumer.stats.handled === 2);
    await consumer.stop();
    t.equal(calls, 1, 'no retry: the batch succeeded');
    const dead = await channel.deadLetters();
    t.equal(dead.length, 1);
    t.match(dead[0], { originalId: ids[1], deliveries: 1, error: 'authentication failed (wrong key or tampered frame)' });
    t.same((await channel.groups())[0], { name: 'g', pending: 0, lag: 0 });
  });
});
