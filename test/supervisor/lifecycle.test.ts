/**
 * Child lifecycle with real processes: shutdown (brutal_kill, timeout with a child that ignores
 * SIGTERM), readiness (start timeout, exit before ready), liveness (a hung child is killed and
 * restarted), dynamic children, and spec validation.
 */
import t from 'tap';
import { SpecError, StartError } from '../../supervisor/errors.js';
import { processChild } from '../../supervisor/processChild.js';
import { Supervisor } from '../../supervisor/supervisor.js';
import { waitFor } from '../helpers/wait.js';
import { alive, reports, waitGone, worker } from './workers.js';

t.test('brutal_kill kills at once; a timeout waits, then kills a child that ignores SIGTERM', async (t) => {
  const sup = new Supervisor({
    id: 'root', strategy: 'one_for_one', intensity: 1, periodMs: 5_000,
    children: [
      worker('patient', { shutdown: 800, env: { WORKER_IGNORE_SIGTERM: '1' } }),
      worker('brutal', { shutdown: 'brutal_kill', env: { WORKER_IGNORE_SIGTERM: '1' } }),
      worker('polite', { shutdown: 5_000 }),
    ],
  });
  await sup.start();
  const pids = sup.whichChildren().map((c) => c.pid);
  const started = Date.now();
  await sup.terminateChild('brutal');
  const brutalMs = Date.now() - started;
  t.match(sup.whichChildren()[1]?.lastExit, { signal: 'SIGKILL' }, 'brutal_kill: SIGKILL');
  t.ok(brutalMs < 500, `brutal_kill took ${brutalMs} ms`);

  const t1 = Date.now();
  await sup.terminateChild('patient');
  const patientMs = Date.now() - t1;
  t.match(sup.whichChildren()[0]?.lastExit, { signal: 'SIGKILL', reason: 'did not stop within its shutdown time of 800 ms; killed' });
  t.ok(patientMs >= 750, `waited the shutdown time before SIGKILL (${patientMs} ms)`);

  await sup.terminateChild('polite');
  t.match(sup.whichChildren()[2]?.lastExit, { code: 0, normal: true }, 'a cooperative child drains and exits 0 on SIGTERM');
  await waitGone(pids);
  await sup.stop();
});

t.test('a child that is never ready fails its start after the start timeout, and is killed', async (t) => {
  const r = reports();
  const sup = new Supervisor({ id: 'root', strategy: 'one_for_one', intensity: 1, periodMs: 5_000, children: [worker('ok'), worker('mute', { startTimeoutMs: 1_000, env: { WORKER_NEVER_READY: '1' } })] }, { onReport: r.onReport });
  const started = Date.now();
  const err = await sup.start().catch((e: unknown) => e);
  t.ok(err instanceof StartError, 'start rejects with a StartError');
  t.match((err as Error).message, "child 'mute' failed to start: not ready within its start timeout of 1000 ms");
  t.ok(Date.now() - started >= 1_000);
  const okPid = r.list.find((x) => x.context === 'child_started' && x.offender === 'ok')?.pid;
  await waitGone([okPid ?? null]);
  t.same(sup.whichChildren().map((c) => c.state), ['stopped', 'failed'], 'the started sibling was stopped again');
  t.match(await sup.exited, { normal: false, reason: /start failed/ });
});

t.test('a child that exits before it is ready fails its start with the exit reason', async (t) => {
  const bad = new Supervisor({ id: 'root', strategy: 'one_for_one', intensity: 1, periodMs: 5_000, children: [{ id: 'missing', start: processChild({ id: 'missing', module: '/nonexistent/service.js', output: () => undefined }) }] });
  await t.rejects(bad.start(), /child 'missing' failed to start: exited before it was ready \(exit code 1\)/);
});

t.test('a hung child (no heartbeats) is killed and restarted', async (t) => {
  const r = reports();
  const sup = new Supervisor({ id: 'root', strategy: 'one_for_one', intensity: 3, periodMs: 30_000, children: [worker('hangs', { heartbeatTimeoutMs: 700, env: { WORKER_HANG_AFTER_MS: '200' } })] }, { onReport: r.onReport });
  t.teardown(() => sup.stop());
  await sup.start();
  const first = sup.whichChildren()[0]!.pid;
  await waitFor('restarted after hanging', () => sup.whichChildren()[0]!.restarts >= 1 && sup.whichChildren()[0]!.state === 'running', 15_000);
  t.not(sup.whichChildren()[0]!.pid, first);
  t.notOk(alive(first), 'the hung process was killed');
  t.match(r.list.find((x) => x.context === 'child_terminated'), { offender: 'hangs', reason: /no heartbeat for \d+ ms \(hung\); killed/ });
});

t.test('children are added, restarted, terminated and deleted at run time', async (t) => {
  const sup = new Supervisor({ id: 'root', strategy: 'one_for_one', intensity: 1, periodMs: 5_000, children: [] });
  t.teardown(() => sup.stop());
  await sup.start();
  await sup.startChild(worker('parse@1.0.0#1', { version: '1.0.0' }));
  await sup.startChild(worker('parse@1.1.0#1', { version: '1.1.0' }));
  t.same(sup.whichChildren().map((c) => [c.id, c.state, c.version]), [['parse@1.0.0#1', 'running', '1.0.0'], ['parse@1.1.0#1', 'running', '1.1.0']]);
  await t.rejects(sup.startChild(worker('parse@1.0.0#1')), /already runs under 'root'/, 'a duplicate id is refused');
  const pid = sup.whichChildren()[1]!.pid;
  await t.rejects(sup.restartChild('parse@1.1.0#1'), { name: 'ChildRunning', state: 'running' }, 'restart_child of a running child is refused, as in OTP');
  await sup.terminateChild('parse@1.1.0#1');
  const restarted = await sup.restartChild('parse@1.1.0#1');
  t.not(sup.whichChildren()[1]!.pid, pid, 'operator restart gives a new process');
  t.equal(restarted.pid, sup.whichChildren()[1]!.pid, 'restartChild answers the child as it runs now');
  t.equal(sup.whichChildren()[1]!.restarts, 0, 'an operator restart is not counted as a failure restart');
  const old = sup.whichChildren()[0]!.pid;
  await sup.terminateChild('parse@1.0.0#1');
  await sup.deleteChild('parse@1.0.0#1');
  t.same(sup.whichChildren().map((c) => c.id), ['parse@1.1.0#1']);
  t.notOk(alive(old));
  await t.rejects(sup.restartChild('nope'), /no child 'nope' under supervisor 'root'/);
});

t.test('invalid specs are refused at start, naming the field and the value', async (t) => {
  const start = async () => ({}) as never;
  const bad: Array<[unknown, RegExp]> = [
    [{ id: 'r', strategy: 'one_for_most', intensity: 1, periodMs: 1, children: [] }, /^supervisor\.strategy: "one_for_most" is invalid; expected one_for_one, one_for_all, rest_for_one$/],
    [{ id: 'r', strategy: 'one_for_one', intensity: -1, periodMs: 1, children: [] }, /^supervisor\.intensity: -1 is invalid; expected an integer >= 0$/],
    [{ id: 'r', strategy: 'one_for_one', intensity: 1, periodMs: 0, children: [] }, /^supervisor\.periodMs: 0 is invalid/],
    [{ id: 'r', strategy: 'one_for_one', children: [{ id: 'a', start }, { id: 'a', start }] }, /^supervisor\.children\[1\]\.id: "a" is invalid; expected an id unique among its siblings/],
    [{ id: 'r', strategy: 'one_for_one', children: [{ id: 'a', start, restart: 'always' }] }, /^supervisor\.children\[0\]\.restart: "always" is invalid/],
    [{ id: 'r', strategy: 'one_for_one', children: [{ id: 'a', start, shutdown: -5 }] }, /^supervisor\.children\[0\]\.shutdown: -5 is invalid/],
    [{ id: 'r', strategy: 'one_for_one', children: [{ id: 'a b', start }] }, /^supervisor\.children\[0\]\.id: "a b" is invalid/],
    [{ id: 'r', strategy: 'one_for_one', children: [{ id: 'a' }] }, /^supervisor\.children\[0\]\.start: undefined is invalid/],
  ];
  for (const [spec, message] of bad) {
    let err: unknown;
    try {
      new Supervisor(spec as never);
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof SpecError, `SpecError for ${String(message)}`);
    t.match((err as Error).message, message);
  }
});
