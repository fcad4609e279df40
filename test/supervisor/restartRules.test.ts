/**
 * Restart types on normal and abnormal exit, restart intensity with escalation to the parent,
 * and crash-loop backoff, with real child processes.
 */
import t from 'tap';
import { Supervisor, supervisorChild } from '../../supervisor/supervisor.js';
import type { RestartType } from '../../supervisor/types.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { alive, reports, waitGone, worker } from './workers.js';

const cases: Array<[RestartType, number, boolean]> = [
  ['permanent', 0, true],
  ['permanent', 3, true],
  ['transient', 0, false],
  ['transient', 3, true],
  ['temporary', 0, false],
  ['temporary', 3, false],
];

for (const [restart, code, restarted] of cases) {
  t.test(`${restart} child exiting with code ${code} is ${restarted ? '' : 'not '}restarted`, async (t) => {
    const r = reports();
    const sup = new Supervisor(
      { id: 'root', strategy: 'one_for_one', intensity: 3, periodMs: 10_000, children: [worker('w', { restart, env: { WORKER_EXIT_AFTER_MS: '300', WORKER_EXIT_CODE: String(code) } })] },
      { onReport: r.onReport },
    );
    t.teardown(() => sup.stop());
    await sup.start();
    const firstPid = sup.whichChildren()[0]!.pid;
    await waitFor('first exit', () => r.list.some((x) => x.context === 'child_terminated'));
    if (restarted) {
      await waitFor('restarted', () => sup.whichChildren()[0]?.restarts === 1 && sup.whichChildren()[0]?.state === 'running');
      t.not(sup.whichChildren()[0]!.pid, firstPid, 'runs again with a new pid');
    } else {
      await sleep(300); // a restart would come within this time: its absence is the point
      t.notOk(r.list.some((x) => x.context === 'restarting'), 'no restart');
      if (restart === 'temporary') t.same(sup.whichChildren(), [], 'a temporary child is removed');
      else t.match(sup.whichChildren()[0], { state: 'stopped', pid: null, lastExit: { normal: true, reason: 'exit code 0' } });
    }
    t.match(r.list.find((x) => x.context === 'child_terminated'), { supervisor: 'root', offender: 'w', reason: `exit code ${code}` });
  });
}

t.test('over its intensity a supervisor stops its children and fails to its parent, up to the root', async (t) => {
  const r = reports();
  const crashing = worker('crasher', { env: { WORKER_EXIT_AFTER_MS: '100', WORKER_EXIT_CODE: '1' } });
  const sub = supervisorChild({ id: 'sub', strategy: 'one_for_one', intensity: 2, periodMs: 30_000, backoffInitialMs: 0, children: [worker('steady'), crashing] }, { onReport: r.onReport });
  const root = new Supervisor({ id: 'root', strategy: 'one_for_one', intensity: 0, periodMs: 30_000, children: [worker('sibling'), sub] }, { onReport: r.onReport });
  await root.start();
  const pids: Array<number | null> = [];
  const collect = () => {
    for (const c of root.whichChildren()) {
      pids.push(c.pid);
      for (const g of c.children ?? []) pids.push(g.pid);
    }
  };
  collect();
  const reason = await root.exited;
  t.same(reason, { normal: false, code: null, signal: null, reason: 'reached_max_restart_intensity' }, 'the root gave up');
  const gaveUp = r.list.filter((x) => x.context === 'reached_max_restart_intensity');
  t.same(gaveUp.map((x) => [x.supervisor, x.offender]), [['sub', 'crasher'], ['root', 'sub']], 'sub escalated to root, which escalated');
  const subStops = r.list.filter((x) => x.context === 'shutdown');
  t.same(subStops.map((x) => x.supervisor), ['sub', 'root']);
  await waitGone(pids.filter((p) => p !== process.pid));
  t.ok(pids.filter((p) => p !== process.pid).every((p) => !alive(p)), 'every child process is gone');
  t.same(root.whichChildren().map((c) => c.state), ['stopped', 'stopped']);
});

t.test('a crash loop is restarted with growing backoff', async (t) => {
  const r = reports();
  const sup = new Supervisor(
    { id: 'root', strategy: 'one_for_one', intensity: 100, periodMs: 60_000, backoffInitialMs: 100, backoffMaxMs: 400, children: [worker('flapper', { env: { WORKER_EXIT_AFTER_MS: '0', WORKER_EXIT_CODE: '2' } })] },
    { onReport: r.onReport },
  );
  t.teardown(() => sup.stop());
  await sup.start();
  await waitFor('six restarts', () => r.list.filter((x) => x.context === 'restarting').length >= 6, 30_000);
  const delays = r.list.filter((x) => x.context === 'restarting').slice(0, 6).map((x) => x.delayMs);
  t.same(delays, [0, 100, 200, 400, 400, 400], 'first restart at once, then doubling up to the ceiling');
  await sup.stop();
});

t.test('a stop during a backoff wait is prompt', async (t) => {
  const sup = new Supervisor({ id: 'root', strategy: 'one_for_one', intensity: 100, periodMs: 60_000, backoffInitialMs: 20_000, backoffMaxMs: 20_000, children: [worker('flapper', { env: { WORKER_EXIT_AFTER_MS: '0' } })] });
  await sup.start();
  await waitFor('in a long backoff', () => sup.whichChildren()[0]?.restarts === 1 && sup.whichChildren()[0]?.state === 'restarting', 20_000);
  const started = Date.now();
  await sup.stop();
  t.ok(Date.now() - started < 5_000, `stopped in ${Date.now() - started} ms, not after the 20 s backoff`);
});
