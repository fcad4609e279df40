/**
 * Channel contract, declared consumers: a group the services' manifests declare keeps every
 * entry before it exists (no trim, no MAXLEN), counts the whole stream as its backlog so
 * publish is held at the high-water mark (and says which group holds it), and once created
 * reads every entry from the start; trimming then follows every group's acknowledgements.
 * Runs against both transports.
 */
import t from 'tap';
import { Channel, ChannelError } from '../../../channels/index.js';
import { waitFor } from '../../helpers/wait.js';
import { forEachTransport } from './transports.js';

const msgs = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ type: 'test.item', v: 1, body: { n: from + i } }));

forEachTransport(t, async (t, transport) => {
  t.test('declarations are a set per channel', async (t) => {
    const channel = new Channel(transport, 'decl', { retentionIntervalMs: 0 });
    await channel.declareGroups(['parse', 'audit']);
    await channel.declareGroups(['parse']);
    t.same(await channel.declaredGroups(), ['audit', 'parse']);
    t.same(await transport.declaredGroups('other'), [], 'another channel has its own');
    await transport.undeclareGroups('decl', ['audit']);
    t.same(await channel.declaredGroups(), ['parse']);
  });

  t.test('a declared group that does not exist yet keeps every entry, and counts the whole stream as backlog', async (t) => {
    const channel = new Channel(transport, 'held', { highWaterMark: 10, retentionIntervalMs: 0 });
    await channel.declareGroups(['parse']);
    const ids = await channel.publishMany(msgs(9));
    t.equal(await channel.backlog(), 9, 'the missing group will read all 9');
    t.same(await channel.backlogDetail(), { backlog: 9, missing: ['parse'] });
    t.equal(await channel.trim(), 0, 'not trimmed to the high-water mark: nobody read them');
    t.equal(await transport.trimToLength('held', 2), 0, 'a blind MAXLEN deletes nothing either');
    t.equal(await channel.length(), 9);

    // Another group reading and acknowledging everything does not let the missing one lose entries.
    const other = channel.consume({ group: 'other', consumer: 'c', blockMs: 50 }, () => undefined);
    await waitFor('other group read all', () => other.stats.acked === 9);
    await other.stop();
    t.equal(await channel.trim(), 0, 'still nothing trimmed while parse has no group');
    t.equal(await channel.backlog(), 9);

    const got: string[] = [];
    const parse = channel.consume({ group: 'parse', consumer: 'parse#1', blockMs: 50 }, (b) => void got.push(...b.map((m) => m.id)));
    await waitFor('parse read everything', () => got.length === 9);
    await parse.stop();
    t.same(got, ids, 'the declared group, once started, read every entry from the first');
    t.same(await channel.backlogDetail(), { backlog: 0, missing: [] });
    t.equal(await channel.trim(), 9, 'now every group has acknowledged them: trimmed');
  });

  t.test('publish is held at the high-water mark while a declared group is missing, naming it, and nothing is deleted', async (t) => {
    const held: Array<{ channel: string; backlog: number; missing: string[] }> = [];
    const channel = new Channel(transport, 'bounded', { highWaterMark: 5, maxPublishWaitMs: 150, retentionIntervalMs: 1, onHeldByMissingGroups: (i) => held.push(i) });
    await channel.declareGroups(['parse']);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(await channel.publish(msgs(1, i)[0]!));
      await new Promise((r) => setTimeout(r, 3)); // past the retention interval: the producer tries to trim
    }
    await t.rejects(channel.publish(msgs(1, 5)[0]!), ChannelError);
    await t.rejects(channel.publish(msgs(1, 5)[0]!), /declared consumer group\(s\) parse do not exist yet/);
    t.equal(held.length, 2, 'told once per held publish');
    t.same(held[0], { channel: 'bounded', backlog: 5, missing: ['parse'] });
    t.equal(await channel.length(), 5, 'every published entry is still there');

    const got: string[] = [];
    const parse = channel.consume({ group: 'parse', consumer: 'parse#1', blockMs: 50 }, (b) => void got.push(...b.map((m) => m.id)));
    await waitFor('parse read everything', () => got.length === 5);
    t.same(got, ids);
    await channel.publish(msgs(1, 5)[0]!);
    await waitFor('parse read the next', () => got.length === 6);
    await parse.stop();
  });

  t.test('trim follows every declared group once they all exist', async (t) => {
    const channel = new Channel(transport, 'both', { retentionIntervalMs: 0 });
    await channel.declareGroups(['a', 'b']);
    await channel.publishMany(msgs(20));
    const a = channel.consume({ group: 'a', consumer: 'c', blockMs: 50 }, () => undefined);
    await waitFor('a read all', () => a.stats.acked === 20);
    await a.stop();
    t.equal(await channel.trim(), 0, 'b declared, not there: nothing trimmed');
    let taken = 0;
    const b = channel.consume({ group: 'b', consumer: 'c', batchSize: 5, blockMs: 50 }, async () => {
      if (++taken === 2) await new Promise(() => undefined);
    });
    await waitFor('b took two batches', () => taken === 2);
    t.equal(await channel.trim(), 5, 'only what b acknowledged goes');
    await b.abandon();
  });

  t.test('a channel nobody is declared to read keeps today\'s behaviour: newest high-water-mark entries', async (t) => {
    const channel = new Channel(transport, 'changes', { highWaterMark: 10, retentionIntervalMs: 0 });
    await channel.publishMany(msgs(30));
    t.same(await channel.backlogDetail(), { backlog: 0, missing: [] });
    t.equal(await channel.trim(), 20);
    t.equal(await channel.length(), 10);
  });
});
