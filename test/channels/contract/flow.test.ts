/**
 * Channel contract, flow control: backpressure at the high-water mark, retention that never
 * trims what a group has not acknowledged, and a graceful stop that loses nothing. Runs
 * against both transports.
 */
import t from 'tap';
import { Channel, ChannelError } from '../../../channels/index.js';
import { sleep, waitFor } from '../../helpers/wait.js';
import { forEachTransport } from './transports.js';

const msgs = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ type: 'test.item', v: 1, body: { n: from + i } }));

forEachTransport(t, async (t, transport) => {
  t.test('publish waits while the backlog is over the high-water mark', async (t) => {
    const channel = new Channel(transport, 'pressure', { highWaterMark: 20, retentionIntervalMs: 0 });
    await transport.cursor('pressure', 'g', 'c').ensureGroup('0'); // a group that has not read yet
    await channel.publishMany(msgs(25));
    let published = false;
    const blocked = channel.publish({ type: 'test.item', v: 1, body: { n: 25 } }).then(() => (published = true));
    await sleep(300); // publish must stay blocked: its staying so is the point
    t.equal(published, false, 'publish is waiting while 25 >= 20 are unconsumed');
    t.equal(await channel.length(), 25, 'nothing was appended meanwhile');

    const consumer = channel.consume({ group: 'g', consumer: 'c', batchSize: 10, blockMs: 50 }, () => undefined);
    await blocked;
    t.ok(published, 'publish went through once the consumer caught up');
    await waitFor('all consumed', () => consumer.stats.handled === 26);
    await consumer.stop();
  });

  t.test('publish fails with a clear error when the backlog stays high past maxPublishWaitMs', async (t) => {
    const channel = new Channel(transport, 'stuck', { highWaterMark: 5, maxPublishWaitMs: 200 });
    await transport.cursor('stuck', 'g', 'c').ensureGroup('0');
    await channel.publishMany(msgs(5));
    await t.rejects(channel.publish({ type: 'test.item', v: 1, body: {} }), ChannelError);
    await t.rejects(channel.publish({ type: 'test.item', v: 1, body: {} }), /backlog of 5 stayed at or over the high-water mark 5/);
    t.equal(await channel.length(), 5, 'nothing appended');
  });

  t.test('retention trims only what every group has acknowledged', async (t) => {
    const channel = new Channel(transport, 'retain', { retentionIntervalMs: 0 });
    const ids = await channel.publishMany(msgs(50));
    t.equal(await channel.trim(), 0, 'no group yet: nothing is trimmed');

    const fast = channel.consume({ group: 'fast', consumer: 'c', blockMs: 50 }, () => undefined);
    await waitFor('fast done', () => fast.stats.acked === 50);
    // A second group that has taken 20 entries and acknowledged only the first 10.
    let slowBatches = 0;
    const slow = channel.consume({ group: 'slow', consumer: 'c', batchSize: 10, blockMs: 50 }, async () => {
      if (++slowBatches === 2) await new Promise(() => undefined);
    });
    await waitFor('slow took two batches', () => slowBatches === 2);
    t.equal(await channel.trim(), 10, 'only the 10 entries both groups acknowledged are trimmed');
    t.equal(await channel.length(), 40);
    t.equal(await channel.trim(), 0, 'trimming again removes nothing more');
    await slow.abandon();
    await fast.stop();

    const handled: string[] = [];
    const slowAgain = channel.consume({ group: 'slow', consumer: 'c', batchSize: 10, blockMs: 50 }, (batch) => {
      handled.push(...batch.map((m) => m.id));
    });
    await waitFor('slow group caught up', () => handled.length === 40);
    await slowAgain.stop();
    t.same(handled, ids.slice(10), 'the slow group still got every entry it had not acknowledged');
    t.equal(await channel.trim(), 40);
    t.equal(await channel.length(), 0);
  });

  t.test('a channel no group reads applies no backpressure and keeps only its newest entries', async (t) => {
    const channel = new Channel(transport, 'notify', { highWaterMark: 10, retentionIntervalMs: 0 });
    await channel.publishMany(msgs(30));
    t.equal(await channel.backlog(), 0, 'nobody to wait for');
    t.equal(await channel.trim(), 20);
    t.equal(await channel.length(), 10);
    const got: number[] = [];
    const late = channel.consume({ group: 'late', consumer: 'c', blockMs: 50, startId: '0' }, (b) => {
      got.push(...b.map((m) => (m.body as { n: number }).n));
    });
    await waitFor('late group read the kept entries', () => got.length === 10);
    await late.stop();
    t.same(got, [20, 21, 22, 23, 24, 25, 26, 27, 28, 29], 'a group that comes later reads the newest entries');
  });

  t.test('consumers trim acknowledged entries as they go', async (t) => {
    const channel = new Channel(transport, 'autotrim', { retentionIntervalMs: 50 });
    await channel.publishMany(msgs(100));
    const consumer = channel.consume({ group: 'g', consumer: 'c', blockMs: 50 }, () => undefined);
    await waitFor('trimmed', async () => consumer.stats.acked === 100 && (await channel.length()) === 0);
    await consumer.stop();
    t.pass('stream emptied by retention after acknowledgement');
  });

  t.test('stop finishes and acknowledges the batch in hand, and loses nothing', async (t) => {
    const channel = new Channel(transport, 'graceful');
    const ids = await channel.publishMany(msgs(200));
    const handled: string[] = [];
    let inHandler = false;
    let stopRequested = false;
    let batchesAfterStop = 0;
    const first = channel.consume({ group: 'g', consumer: 'c1', batchSize: 20, blockMs: 50 }, async (batch) => {
      if (stopRequested) batchesAfterStop++;
      inHandler = true;
      await sleep(30); // a handler's work, so a stop lands mid-batch
      handled.push(...batch.map((m) => m.id));
      inHandler = false;
    });
    await waitFor('mid-batch', () => handled.length >= 40 && inHandler);
    stopRequested = true;
    await first.stop();
    t.equal(inHandler, false, 'stop resolved only after the batch in hand finished');
    t.ok(batchesAfterStop <= 1, 'no new batch fetched after stop');
    t.same((await channel.groups())[0]?.pending, 0, 'the in-flight batch was acknowledged');
    const second = channel.consume({ group: 'g', consumer: 'c2', batchSize: 20, blockMs: 50 }, (batch) => {
      handled.push(...batch.map((m) => m.id));
    });
    await waitFor('rest handled', () => handled.length >= 200);
    await sleep(100); // a duplicate delivery would show up now
    await second.stop();
    t.same(handled, ids, 'every entry handled exactly once across the stop');
  });
});
