/** Each restart strategy with real child processes: who is stopped, in what order, who restarts. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { Supervisor } from '../../supervisor/supervisor.js';
import type { Strategy } from '../../supervisor/types.js';
import { waitFor } from '../helpers/wait.js';
import { readLog, waitGone, worker } from './workers.js';

async function scenario(t: Test, strategy: Strategy) {
  const log = join(mkdtempSync(join(tmpdir(), 'hydra-sup-')), 'events.log');
  const env = { WORKER_LOG: log };
  const sup = new Supervisor({ id: 'root', strategy, intensity: 5, periodMs: 10_000, children: ['a', 'b', 'c'].map((id) => worker(id, { env })) });
  t.teardown(() => sup.stop());
  await sup.start();
  const before = Object.fromEntries(sup.whichChildren().map((c) => [c.id, c.pid]));
  t.same(readLog(log), ['start a', 'start b', 'start c'], 'children start in order');
  process.kill(before.b!, 'SIGKILL');
  await waitFor('b restarted', () => {
    const b = sup.whichChildren().find((c) => c.id === 'b');
    return b?.state === 'running' && b.pid !== before.b && sup.whichChildren().every((c) => c.state === 'running');
  });
  const after = Object.fromEntries(sup.whichChildren().map((c) => [c.id, c.pid]));
  const events = readLog(log).slice(3);
  await sup.stop();
  await waitGone(Object.values(after));
  return { before, after, events, restarts: sup.whichChildren().map((c) => c.restarts) };
}

t.test('one_for_one restarts only the child that died', async (t) => {
  const { before, after, events } = await scenario(t, 'one_for_one');
  t.not(after.b, before.b, 'b has a new pid');
  t.equal(after.a, before.a, 'a untouched');
  t.equal(after.c, before.c, 'c untouched');
  t.same(events, ['start b']);
});

t.test('one_for_all stops the others in reverse order and restarts all in order', async (t) => {
  const { before, after, events } = await scenario(t, 'one_for_all');
  for (const id of ['a', 'b', 'c']) t.not(after[id], before[id], `${id} has a new pid`);
  t.same(events, ['stop c', 'stop a', 'start a', 'start b', 'start c']);
});

t.test('rest_for_one restarts the dead child and those started after it', async (t) => {
  const { before, after, events } = await scenario(t, 'rest_for_one');
  t.equal(after.a, before.a, 'a, started before b, untouched');
  t.not(after.b, before.b);
  t.not(after.c, before.c);
  t.same(events, ['stop c', 'start b', 'start c']);
});

t.test('stop terminates children in reverse start order, and none is left', async (t) => {
  const log = join(mkdtempSync(join(tmpdir(), 'hydra-sup-')), 'events.log');
  const sup = new Supervisor({ id: 'root', strategy: 'one_for_one', intensity: 1, periodMs: 5_000, children: ['a', 'b', 'c'].map((id) => worker(id, { env: { WORKER_LOG: log } })) });
  await sup.start();
  const pids = sup.whichChildren().map((c) => c.pid);
  const reason = await sup.stop();
  t.same(reason, { normal: true, code: null, signal: null, reason: 'shutdown' });
  t.same(readLog(log), ['start a', 'start b', 'start c', 'stop c', 'stop b', 'stop a']);
  await waitGone(pids);
  t.same(sup.whichChildren().map((c) => c.state), ['stopped', 'stopped', 'stopped']);
});
