/**
 * state.changes carries every applied update exactly once, also when the state service dies
 * after a batch's rows were written and before the batch was acknowledged (found by the chaos
 * test): the redelivered batch announces the updates whose rows it wrote (recognised by their
 * source entry) and the ones a later update of the same item in that batch overwrote (kept in
 * item_state_superseded), and nothing twice. The crash is injected with
 * STATE_TEST_CRASH_AFTER_FLUSH (SIGKILL right after the flush, once).
 */
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { sleep, waitFor } from '../helpers/wait.js';
import { startState, update } from './stateHarness.js';

t.test('a batch redelivered after a crash between its flush and its ack announces each of its updates once', async (t) => {
  const marker = path.join(mkdtempSync(path.join(os.tmpdir(), 'hydra-state-crash-')), 'crashed');
  const batch = [
    update(1, 1001, 1, [{ item: 1 }, { item: 2 }]),
    update(1, 1001, 2, [{ item: 1, status: 'armed' }]),
    update(1, 1001, 3, [{ item: 1, status: 'fired' }, { item: 2, status: 'armed' }]),
    update(1, 1002, 1, [{ item: 1 }]),
  ];
  const h = await startState(t, { STATE_TEST_CRASH_AFTER_FLUSH: marker }, { prepublish: batch });
  await waitFor('the injected crash after the flush', () => existsSync(marker), 30_000);
  // The marker is written just before the SIGKILL: wait for the supervisor to have restarted it
  // (a CI run read the count before the restart was recorded), then for the batch to be done.
  await waitFor('the restart after the injected crash', () => h.child().restarts >= 1 || null, 30_000);
  await h.settled();
  t.equal(h.child().restarts, 1, 'the instance was killed once after its flush and restarted');
  const changes = (await h.allChanges()).map((c) => `${c.body.device}/${c.body.item}@${c.body.seq}:${c.body.state.status}`);
  t.same(
    [...changes].sort(),
    ['1001/1@1:connected', '1001/1@2:armed', '1001/1@3:fired', '1001/2@1:connected', '1001/2@3:armed', '1002/1@1:connected'],
    'every applied update once, the overwritten ones (1001/1@1, 1001/1@2, 1001/2@1) included',
  );
  const { rows } = await h.db.pool.query<{ device: string; item: string; seq: string }>('SELECT device, item, seq FROM item_state ORDER BY device, item');
  t.same(rows.map((r) => `${r.device}/${r.item}@${r.seq}`), ['1001/1@3', '1001/2@3', '1002/1@1'], 'item_state holds the newest of each item');
});

t.test('connections cut while a flush (with overwritten changes) is in its transaction do not crash the instance; nothing is lost or doubled', async (t) => {
  const h = await startState(t, { STATE_FLUSH_MS: '5' });
  const expected = new Set<string>();
  let cuts = 0;
  let cutting = true;
  // Cuts the instance's connections (not the test's own pool) every few ms while batches flow.
  const cutter = (async () => {
    while (cutting) {
      const killed = await h.db.pool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND state <> 'idle'`, [h.db.name]);
      cuts += killed.rowCount ?? 0;
      await sleep(3); // the cutter's pace: a cut every few ms
    }
  })();
  // Until a few cuts landed inside a flush's transaction (each round is a few ms long).
  for (let round = 0; round < 1_000 && (round < 150 || cuts < 3); round++) {
    // Two updates of the same item per batch: every flush writes overwritten changes (a transaction).
    const seq = round * 2 + 1;
    await h.publish(update(3, 3001, seq, [{ item: 1 }, { item: 2 }]), update(3, 3001, seq + 1, [{ item: 1, status: 'armed' }, { item: 2 }]));
    for (const s of [seq, seq + 1]) for (const item of [1, 2]) expected.add(`${item}@${s}`);
    await sleep(5); // the publisher's pace: flushes (STATE_FLUSH_MS 5) happen between rounds
  }
  cutting = false;
  await cutter;
  await h.settled();
  t.ok(cuts > 0, `the instance's connections were cut ${cuts} times`);
  t.equal(h.child().restarts, 0, 'the instance never crashed');
  const changes = (await h.allChanges()).filter((c) => c.body.device === 3001).map((c) => `${c.body.item}@${c.body.seq}`);
  t.equal(changes.length, expected.size, 'one state change per applied update');
  t.same(new Set(changes), expected, 'every applied update announced');
});
