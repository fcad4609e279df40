/**
 * Channel contract, recovery: a consumer that dies mid-batch leaves its entries pending; a
 * restart under the same name re-reads them first, and after the idle time another consumer
 * claims them. Runs against both transports (Redis: a real process killed with SIGKILL).
 */
import t from 'tap';
import { Channel } from '../../../channels/index.js';
import { waitFor } from '../../helpers/wait.js';
import { forEachTransport } from './transports.js';

const msgs = (n: number) => Array.from({ length: n }, (_, i) => ({ type: 'test.item', v: 1, body: { n: i } }));

forEachTransport(t, async (t, transport, kase) => {
  t.test('a restarted consumer re-reads its own pending entries first', async (t) => {
    const channel = new Channel(transport, 'restart');
    const ids = await channel.publishMany(msgs(30));
    const lost = await kase.crashMidBatch(t, channel, 'g', 'parse#1', 10);
    t.same(lost, ids.slice(0, 10), 'the dead consumer had taken the first batch');
    t.same((await channel.groups())[0], { name: 'g', pending: 10, lag: 20 }, 'its batch is pending, unacknowledged');

    const handled: string[] = [];
    const again = channel.consume({ group: 'g', consumer: 'parse#1', batchSize: 10, blockMs: 50, claimIdleMs: 60_000 }, (batch) => {
      handled.push(...batch.map((m) => m.id));
    });
    await again.ready;
    t.same(handled, lost, 'ready only after the pending batch was handled, before anything new');
    await waitFor('the rest handled', () => handled.length === 30);
    await again.stop();
    t.same(handled, ids, 'every entry handled once, in order');
    t.same((await channel.groups())[0], { name: 'g', pending: 0, lag: 0 });
  });

  t.test("another consumer claims a dead consumer's entries after the idle time", async (t) => {
    const channel = new Channel(transport, 'claim');
    const ids = await channel.publishMany(msgs(12));
    const lost = await kase.crashMidBatch(t, channel, 'g', 'parse#1', 12);
    t.equal(lost.length, 12);

    const handled: string[] = [];
    const started = Date.now();
    const heir = channel.consume({ group: 'g', consumer: 'parse#2', blockMs: 50, claimIdleMs: 400 }, (batch) => {
      handled.push(...batch.map((m) => m.id));
    });
    await waitFor('claimed entries handled', () => handled.length === 12);
    const tookMs = Date.now() - started;
    await heir.stop();
    t.same(handled.sort(), [...ids].sort(), 'all of the dead consumer\'s entries were handled by the heir');
    t.equal(heir.stats.claimed, 12, 'counted as claimed');
    t.ok(tookMs < 10_000, `claimed within a few idle periods (${tookMs} ms)`);
    t.same((await channel.groups())[0]?.pending, 0);
  });

  t.test('a consumer working longer than the idle time keeps its entries', async (t) => {
    const channel = new Channel(transport, 'longwork');
    await channel.publishMany(msgs(3));
    const handledBy: string[] = [];
    const slow = channel.consume({ group: 'g', consumer: 'slow', blockMs: 50, claimIdleMs: 300 }, async (batch) => {
      handledBy.push(...batch.map(() => 'slow'));
      await new Promise((r) => setTimeout(r, 1_200)); // four idle periods
    });
    await waitFor('slow took the batch', () => handledBy.length === 3);
    const eager = channel.consume({ group: 'g', consumer: 'eager', blockMs: 50, claimIdleMs: 300 }, (batch) => {
      handledBy.push(...batch.map(() => 'eager'));
    });
    await waitFor('slow finished', () => slow.stats.acked === 3);
    await Promise.all([slow.stop(), eager.stop()]);
    t.same(handledBy, ['slow', 'slow', 'slow'], 'the in-flight entries were never claimed away');
  });
});
