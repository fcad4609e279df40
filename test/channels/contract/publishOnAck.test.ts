/**
 * Channel contract, outputs published with the acknowledgement (consume → transform → publish
 * without duplicates): a handler's `publishOnAck` messages are appended atomically with the
 * batch's acknowledgement, nothing is published for a failed attempt, a batch redelivered after
 * a crash publishes its outputs once, and a repeated ackAndAppend (what ioredis does when the
 * reply of the first was lost in a reconnect) appends nothing twice. Runs against both transports.
 */
import t from 'tap';
import { Channel, type Envelope } from '../../../channels/index.js';
import { waitFor } from '../../helpers/wait.js';
import { forEachTransport } from './transports.js';

const msgs = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ type: 'test.item', v: 1, body: { n: from + i } }));
/** Every body on `channel`, read by a fresh group from the start. */
const bodies = async (channel: Channel): Promise<number[]> => {
  const seen: number[] = [];
  const group = `reader-${channel.name}`;
  const reader = channel.consume({ group, consumer: 'r', blockMs: 20 }, (batch) => {
    seen.push(...batch.map((m) => (m.body as { n: number }).n));
  });
  await reader.ready;
  await waitFor('the reader to catch up', async () => (await channel.groups()).find((g) => g.name === group)?.lag === 0 && seen.length >= (await channel.length()));
  await reader.stop();
  return seen;
};

forEachTransport(t, async (t, transport, kase) => {
  t.test('outputs are appended with the acknowledgement, once per entry', async (t) => {
    const input = new Channel(transport, 'poa-in');
    const output = new Channel(transport, 'poa-out');
    await input.publishMany(msgs(120));
    let handled = 0;
    const consumer = input.consume({ group: 'g', consumer: 'c1', batchSize: 25, blockMs: 20 }, (batch, ctx) => {
      ctx.publishOnAck(output, batch.map((m) => ({ type: 'test.item', v: 1, body: { n: (m.body as { n: number }).n * 10 } })));
      handled += batch.length;
    });
    await waitFor('120 handled', () => consumer.stats.acked === 120);
    await consumer.stop();
    t.equal(handled, 120);
    t.same(await bodies(output), [...Array(120).keys()].map((n) => n * 10), 'every output once, in order');
    t.same((await input.groups())[0], { name: 'g', pending: 0, lag: 0 }, 'the input is acknowledged');
  });

  t.test('a failed attempt publishes nothing; the retry publishes once', async (t) => {
    const input = new Channel(transport, 'poa-fail-in');
    const output = new Channel(transport, 'poa-fail-out');
    await input.publishMany(msgs(3));
    let attempts = 0;
    const consumer = input.consume({ group: 'g', consumer: 'c1', batchSize: 10, blockMs: 20, retryDelayMs: 20 }, (batch: Envelope[], ctx) => {
      ctx.publishOnAck(output, batch.map((m) => ({ type: 'test.item', v: 1, body: m.body })));
      attempts++;
      if (attempts <= 2 && batch.some((m) => (m.body as { n: number }).n === 1)) throw new Error('not yet');
    });
    await waitFor('3 acknowledged', () => consumer.stats.acked === 3);
    await consumer.stop();
    t.same((await bodies(output)).sort(), [0, 1, 2], 'each output once although entry 1 failed twice');
  });

  t.test('a batch redelivered after a crash publishes its outputs once', async (t) => {
    const input = new Channel(transport, 'poa-crash-in');
    const output = new Channel(transport, 'poa-crash-out');
    await input.publishMany(msgs(10));
    const taken = await kase.crashMidBatch(t, input, 'g', 'c1', 4);
    t.equal(taken.length, 4, 'the crashed consumer held 4 entries unacknowledged');
    const again = input.consume({ group: 'g', consumer: 'c1', batchSize: 4, blockMs: 20 }, (batch, ctx) => {
      ctx.publishOnAck(output, batch.map((m) => ({ type: 'test.item', v: 1, body: m.body })));
    });
    await waitFor('10 acknowledged', () => again.stats.acked === 10);
    await again.stop();
    t.same(await bodies(output), [...Array(10).keys()], 'one output per entry, the redelivered ones included');
  });

  t.test('ackAndAppend repeated (a resent call) appends nothing twice', async (t) => {
    const input = new Channel(transport, 'poa-resend-in');
    const output = new Channel(transport, 'poa-resend-out');
    const ids = await input.publishMany(msgs(2));
    const cursor = transport.cursor(input.name, 'g', 'c1');
    t.teardown(() => cursor.close());
    await cursor.ensureGroup('0');
    t.equal((await cursor.readNew(10, 0)).length, 2, 'both delivered');
    const entries = await output.prepare(msgs(2, 100));
    t.equal(await cursor.ackAndAppend(ids, [{ channel: output.name, entries }]), 2, 'first call: both acknowledged');
    t.equal(await cursor.ackAndAppend(ids, [{ channel: output.name, entries }]), 0, 'repeated call: nothing left to acknowledge');
    t.equal(await output.length(), 2, 'the outputs were appended once');
    t.same((await input.groups())[0], { name: 'g', pending: 0, lag: 0 });
  });
});
