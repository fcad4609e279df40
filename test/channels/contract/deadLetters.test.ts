/**
 * Channel contract, dead letters put back or thrown away: a replayed dead letter goes back into
 * the channel exactly as it was written (under a new id) and leaves the dead-letter stream in
 * the same step, so a fixed consumer handles it once; replaying or discarding an id that is gone
 * publishes nothing and says false; replay respects the high-water mark; listing pages oldest
 * first. Runs against both transports.
 */
import t from 'tap';
import { Channel, ChannelError, compareStreamIds, type Envelope, type OutgoingMessage, type Transport } from '../../../channels/index.js';
import { waitFor } from '../../helpers/wait.js';
import { forEachTransport } from './transports.js';

const item = (n: number, extra: Partial<OutgoingMessage> = {}): OutgoingMessage => ({ type: 'test.item', v: 1, body: { n }, ...extra });

/** Publishes `messages` and dead-letters (ctx.deadLetter) those `reject` picks; resolves with the dead letters' ids. */
async function deadLettered(channel: Channel, messages: OutgoingMessage[], reject: (m: Envelope) => boolean): Promise<string[]> {
  const before = await channel.deadLetterCount();
  await channel.publishMany(messages);
  const consumer = channel.consume({ group: 'g', consumer: 'c', blockMs: 20 }, (batch, ctx) => {
    for (const m of batch) if (reject(m)) ctx.deadLetter(m.id, `rejected ${JSON.stringify(m.body)}`);
  });
  await waitFor('every message handled or dead-lettered', () => consumer.stats.handled + consumer.stats.deadLettered === messages.length);
  await consumer.stop();
  const dead = await channel.deadLetters(1000);
  return dead.slice(before).map((d) => d.id);
}

/** Every entry of the channel as stored (fields verbatim), read by a raw cursor of a fresh group. */
async function rawEntries(transport: Transport, channel: string): Promise<Array<{ id: string; fields: Record<string, string> | null }>> {
  const cursor = transport.cursor(channel, `raw-${Math.random().toString(36).slice(2)}`, 'r');
  await cursor.ensureGroup('0');
  const entries = await cursor.readNew(1000, 0);
  await cursor.close();
  return entries;
}

forEachTransport(t, async (t, transport) => {
  t.test('a replayed dead letter comes back unchanged, once, and a fixed consumer handles it exactly once', async (t) => {
    const channel = new Channel(transport, 'dl-replay', { retentionIntervalMs: 0 });
    const ids = await channel.publishMany([item(0), item(1, { key: 'device-17', ts: 1_700_000_000_123, body: { n: 1, volts: [3.3, null], note: 'ünïcødé "quoted"' } }), item(2)]);
    // The buggy consumer: entry 1 fails every time, so it is dead-lettered after maxDeliveries.
    const buggy = channel.consume({ group: 'g', consumer: 'c', blockMs: 20, maxDeliveries: 2, retryDelayMs: 20 }, (batch) => {
      if (batch.some((m) => (m.body as { n: number }).n === 1)) throw new Error('voltage parser bug');
    });
    await waitFor('entry 1 dead-lettered', async () => (await channel.deadLetterCount()) === 1);
    await waitFor('the others handled', () => buggy.stats.handled === 2);
    await buggy.stop();
    const [dead] = await channel.deadLetters();
    t.match(dead, { originalId: ids[1], group: 'g', deliveries: 2, error: /voltage parser bug/ });
    const original = (await rawEntries(transport, 'dl-replay')).find((e) => e.id === ids[1])!;
    t.same(dead!.fields, original.fields, 'the dead letter holds the entry as written');
    const lengthBefore = await channel.length();

    const newId = await channel.replayDeadLetter(dead!.id);
    if (newId === false) throw new Error('replay of a dead letter that is there returned false');
    t.ok(compareStreamIds(newId, ids[2]!) > 0, 'appended under a new id, after everything in the channel');
    t.equal(await channel.length(), lengthBefore + 1, 'exactly one entry was published');
    t.equal(await channel.deadLetterCount(), 0, 'the dead letter is gone');
    t.equal(await channel.readDeadLetter(dead!.id), null);
    const replayed = (await rawEntries(transport, 'dl-replay')).find((e) => e.id === newId);
    t.same(replayed?.fields, original.fields, 'type, v, ts, key and body exactly as the original entry (field for field)');

    // The fixed consumer, same group: it gets the replayed entry, once. A sentinel published
    // after it shows the consumer has read past it, so a second delivery would have shown up.
    const seen: Envelope[] = [];
    const fixed = channel.consume({ group: 'g', consumer: 'c2', blockMs: 20 }, (batch) => {
      seen.push(...batch);
    });
    await fixed.ready;
    await waitFor('the replayed entry handled', () => seen.length === 1);
    t.equal(await channel.replayDeadLetter(dead!.id), false, 'replaying the same dead letter again says false');
    const sentinel = await channel.publish(item(99));
    await waitFor('the sentinel handled', () => seen.some((m) => m.id === sentinel));
    await fixed.stop();
    t.same(seen.map((m) => m.id), [newId, sentinel], 'the replayed entry was handled once, and nothing else arrived');
    t.same(
      { type: seen[0]!.type, v: seen[0]!.v, ts: seen[0]!.ts, key: seen[0]!.key, body: seen[0]!.body },
      { type: 'test.item', v: 1, ts: 1_700_000_000_123, key: 'device-17', body: { n: 1, volts: [3.3, null], note: 'ünïcødé "quoted"' } },
    );
    t.equal(await channel.length(), lengthBefore + 2, 'the second replay published nothing (only the sentinel was added)');
    t.same((await channel.groups()).find((g) => g.name === 'g'), { name: 'g', pending: 0, lag: 0 });
  });

  t.test('discard removes a dead letter without publishing it; a second discard or a replay says false', async (t) => {
    const channel = new Channel(transport, 'dl-discard', { retentionIntervalMs: 0 });
    const [deadId, keptId] = await deadLettered(channel, [item(1), item(2), item(3)], (m) => (m.body as { n: number }).n !== 2);
    const length = await channel.length();
    t.equal(await channel.discardDeadLetter(deadId!), true);
    t.equal(await channel.length(), length, 'nothing was published');
    t.same((await channel.deadLetters()).map((d) => d.id), [keptId], 'only the discarded one went');
    t.equal(await channel.discardDeadLetter(deadId!), false);
    t.equal(await channel.replayDeadLetter(deadId!), false);
    t.equal(await channel.length(), length, 'still nothing published');
    t.equal(await channel.deadLetterCount(), 1);
  });

  t.test('two replays of the same dead letter at once publish it once', async (t) => {
    const channel = new Channel(transport, 'dl-race', { retentionIntervalMs: 0 });
    const [deadId] = await deadLettered(channel, [item(1)], () => true);
    const length = await channel.length();
    const results = await Promise.all([channel.replayDeadLetter(deadId!), channel.replayDeadLetter(deadId!), channel.discardDeadLetter(deadId!)]);
    const winners = results.filter((r) => r !== false);
    t.equal(winners.length, 1, `exactly one of the three calls found it (got ${JSON.stringify(results)})`);
    t.equal(await channel.length(), length + (typeof winners[0] === 'string' ? 1 : 0), 'published at most once');
    t.equal(await channel.deadLetterCount(), 0);
  });

  t.test('replay over the high-water mark fails like publish and leaves the dead letter in place', async (t) => {
    const channel = new Channel(transport, 'dl-full', { retentionIntervalMs: 0, highWaterMark: 1, maxPublishWaitMs: 100 });
    const [deadId] = await deadLettered(channel, [item(1)], () => true);
    await channel.publish(item(2)); // group g has not read it: backlog 1, at the mark
    const length = await channel.length();
    const err = await channel.replayDeadLetter(deadId!).then(() => null, (e: unknown) => e);
    t.ok(err instanceof ChannelError, 'refused with a ChannelError');
    t.match((err as Error).message, `channel 'dl-full': dead letter ${deadId} not replayed (it stays in the dead-letter stream): backlog of 1 stayed at or over the high-water mark 1 for 100 ms`);
    t.equal(await channel.length(), length, 'nothing was published');
    t.match(await channel.readDeadLetter(deadId!), { id: deadId, error: 'rejected {"n":1}' }, 'the dead letter is still there');
  });

  t.test('dead letters page oldest first; a malformed id is a ChannelError naming it', async (t) => {
    const channel = new Channel(transport, 'dl-pages', { retentionIntervalMs: 0 });
    const ids = await deadLettered(channel, [1, 2, 3, 4, 5].map((n) => item(n)), () => true);
    t.equal(ids.length, 5);
    t.equal(await channel.deadLetterCount(), 5);
    const first = await channel.deadLettersAfter('0-0', 2);
    t.same(first.map((d) => JSON.parse(d.fields.body!)), [{ n: 1 }, { n: 2 }]);
    const second = await channel.deadLettersAfter(first[1]!.id, 2);
    t.same(second.map((d) => d.id), ids.slice(2, 4));
    const last = await channel.deadLettersAfter(second[1]!.id, 2);
    t.same(last.map((d) => d.id), ids.slice(4));
    t.same(await channel.deadLettersAfter(last[0]!.id, 2), []);
    t.same((await channel.deadLetters(2)).map((d) => d.id), ids.slice(3), 'deadLetters(n): the newest n, oldest first');
    t.match(await channel.readDeadLetter(ids[2]!), { id: ids[2], fields: { type: 'test.item', v: '1' } });
    await t.rejects(channel.readDeadLetter('12-x'), { name: 'ChannelError', message: /'12-x' is not a/ });
    await t.rejects(channel.replayDeadLetter('latest'), { name: 'ChannelError', message: /'latest' is not a/ });
    await t.rejects(channel.discardDeadLetter(''), { name: 'ChannelError', message: /'' is not a/ });
    t.equal(await channel.deadLetterCount(), 5, 'nothing changed');
  });
});
