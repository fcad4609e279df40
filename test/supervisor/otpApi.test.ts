/**
 * The supervisor's OTP API with cheap fake children (no process): the restart window and its
 * escalation, backoff between restarts, and every call issued while a child waits out its
 * backoff (served at once, not after the wait): delete and restart refused with ChildRunning,
 * terminate cancels the pending restart, startChild and whichChildren answer. Unknown ids are
 * NoSuchChild.
 */
import t from 'tap';
import { ChildRunning, NoSuchChild } from '../../supervisor/errors.js';
import { RestartWindow } from '../../supervisor/restartWindow.js';
import { Supervisor, supervisorChild } from '../../supervisor/supervisor.js';
import type { ChildInfo, Strategy } from '../../supervisor/types.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { fakeChild, reportLog, type FakeChild } from './fakeChildren.js';

/** Long enough that a call waiting behind the backoff would be plainly late. */
const LONG_BACKOFF_MS = 20_000;
/** Short enough to wait past, for "it never starts again". */
const SHORT_BACKOFF_MS = 100;

function supervisor(children: FakeChild[], backoffInitialMs: number, log = reportLog(), strategy: Strategy = 'one_for_one') {
  const sup = new Supervisor(
    { id: 'root', strategy, intensity: 10, periodMs: 60_000, backoffInitialMs, backoffMaxMs: backoffInitialMs * 4, backoffResetMs: 60_000, children: children.map((c) => c.spec) },
    { onReport: log.onReport },
  );
  return { sup, log };
}

function child(sup: Supervisor, id: string): ChildInfo {
  return sup.childInfo(id);
}

/** Crash `c` twice: the first restart is immediate, the second waits out the backoff. Resolves once it waits. */
async function intoBackoff(sup: Supervisor, log: ReturnType<typeof reportLog>, c: FakeChild): Promise<void> {
  const id = c.spec.id;
  const restarts = child(sup, id).restarts;
  c.crash();
  await waitFor(`${id} restarted at once`, () => child(sup, id).state === 'running' && child(sup, id).restarts === restarts + 1);
  const waiting = log.next((r) => r.context === 'restarting' && r.offender === id && (r.delayMs ?? 0) > 0);
  c.crash();
  await waiting;
}

/** Resolves with how long `call` took. */
async function timed(call: () => Promise<unknown>): Promise<number> {
  const start = Date.now();
  await call().catch(() => undefined);
  return Date.now() - start;
}

t.test('the restart window counts restarts inside the period only', async (t) => {
  const w = new RestartWindow(2, 1_000);
  t.ok(w.add(0), 'first');
  t.ok(w.add(500), 'second');
  t.notOk(w.add(900), 'a third within 1000 ms is over the intensity');
  const fresh = new RestartWindow(2, 1_000);
  fresh.add(0);
  fresh.add(500);
  t.ok(fresh.add(1_200), 'the restart at 0 has left the window by 1200');
  t.equal(fresh.count(1_200), 2);
});

t.test('over its intensity a supervisor stops its children and fails, and its parent sees the exit', async (t) => {
  const a = fakeChild('a');
  const b = fakeChild('b');
  const log = reportLog();
  const root = new Supervisor(
    {
      id: 'root',
      strategy: 'one_for_one',
      intensity: 0,
      periodMs: 60_000,
      children: [supervisorChild({ id: 'sub', strategy: 'one_for_one', intensity: 2, periodMs: 60_000, backoffInitialMs: 1, backoffMaxMs: 1, children: [a.spec, b.spec] }, { onReport: log.onReport })],
    },
    { onReport: log.onReport },
  );
  await root.start();
  for (let i = 1; i <= 2; i++) {
    a.crash();
    await waitFor(`restart ${i}`, () => root.childInfo('sub/a').restarts === i && root.childInfo('sub/a').state === 'running');
  }
  a.crash(); // the third within the period
  const reason = await root.exited;
  t.equal(reason.reason, 'reached_max_restart_intensity', 'sub gave up, and the root (intensity 0) with it');
  t.match(
    log.list.filter((r) => r.context === 'reached_max_restart_intensity').map((r) => [r.supervisor, r.offender]),
    [
      ['sub', 'a'],
      ['root', 'sub'],
    ],
  );
  t.equal(a.live + b.live, 0, 'every run was stopped');
});

t.test('restarts back off: at once, then doubling up to the ceiling', async (t) => {
  const c = fakeChild('w');
  const { sup, log } = supervisor([c], 40);
  t.teardown(() => sup.stop());
  await sup.start();
  const gaps: number[] = [];
  for (let i = 1; i <= 5; i++) {
    const restarting = log.next((r) => r.context === 'restarting');
    c.crash();
    const at = Date.now();
    await restarting;
    await waitFor(`restart ${i}`, () => child(sup, 'w').restarts === i && child(sup, 'w').state === 'running');
    gaps.push(Date.now() - at);
  }
  t.same(
    log.list.filter((r) => r.context === 'restarting').map((r) => r.delayMs),
    [0, 40, 80, 160, 160],
  );
  for (const [i, delay] of [0, 40, 80, 160, 160].entries()) t.ok(gaps[i]! >= delay - 5, `restart ${i + 1} waited its ${delay} ms (${gaps[i]} ms)`);
  t.equal(c.live, 1);
});

t.test('during a backoff wait', async (t) => {
  t.test('whichChildren answers at once and shows the child restarting', async (t) => {
    const c = fakeChild('w');
    const { sup, log } = supervisor([c], LONG_BACKOFF_MS);
    t.teardown(() => sup.stop());
    await sup.start();
    await intoBackoff(sup, log, c);
    t.match(sup.whichChildren(), [{ id: 'w', state: 'restarting', pid: null }]);
  });

  t.test('deleteChild is refused with ChildRunning at once, and the child restarts inside the supervisor', async (t) => {
    const c = fakeChild('w');
    const { sup, log } = supervisor([c], SHORT_BACKOFF_MS);
    await sup.start();
    await intoBackoff(sup, log, c);
    // Wrapped so the old synchronous deleteChild is tested too: it deleted the record, and the
    // pending restart then started a run the supervisor no longer knew of and never stopped.
    await t.rejects(
      Promise.resolve().then(() => sup.deleteChild('w')),
      { name: 'ChildRunning', childId: 'w', supervisor: 'root', state: 'restarting', message: /is restarting \(waiting out its backoff\); terminate it first/ },
    );
    await waitFor('w running again', () => sup.whichChildren().find((x) => x.id === 'w')?.state === 'running');
    t.equal(c.live, 1, 'one run, the one in the records');
    await sup.stop();
    t.equal(c.live, 0, 'stopping the supervisor stopped it: no run left behind');
  });

  t.test('deleteChild of a running child is refused with ChildRunning', async (t) => {
    const c = fakeChild('w');
    const { sup } = supervisor([c], SHORT_BACKOFF_MS);
    t.teardown(() => sup.stop());
    await sup.start();
    await t.rejects(sup.deleteChild('w'), new ChildRunning('w', 'root', 'running'));
    t.equal(sup.whichChildren().length, 1);
  });

  t.test('terminateChild answers at once and cancels the pending restart', async (t) => {
    const c = fakeChild('w');
    const { sup, log } = supervisor([c], SHORT_BACKOFF_MS);
    t.teardown(() => sup.stop());
    await sup.start();
    await intoBackoff(sup, log, c);
    const starts = c.starts;
    t.ok((await timed(() => sup.terminateChild('w'))) < SHORT_BACKOFF_MS, 'served before the backoff ends');
    t.match(child(sup, 'w'), { state: 'stopped', pid: null });
    await sleep(SHORT_BACKOFF_MS * 4); // past the backoff: nothing may start it now
    t.equal(c.starts, starts, 'never started again');
    t.equal(child(sup, 'w').state, 'stopped');
    await sup.deleteChild('w');
    t.same(sup.whichChildren(), [], 'a terminated child can be deleted');
  });

  t.test('restartChild is refused with ChildRunning; after terminate it starts at once, and only once', async (t) => {
    const c = fakeChild('w');
    const { sup, log } = supervisor([c], LONG_BACKOFF_MS);
    t.teardown(() => sup.stop());
    await sup.start();
    await intoBackoff(sup, log, c);
    let refusal: unknown;
    t.ok((await timed(() => sup.restartChild('w').catch((err: unknown) => (refusal = err)))) < 2_000, 'answered at once');
    t.match(refusal, { name: 'ChildRunning', state: 'restarting' });
    await sup.terminateChild('w');
    const started = Date.now();
    const info = await sup.restartChild('w');
    t.ok(Date.now() - started < 2_000, 'started without waiting out the backoff');
    t.match(info, { id: 'w', state: 'running', pid: Number });
    t.equal(child(sup, 'w').restarts, 1, 'an operator restart is not counted');
    t.equal(c.live, 1);
  });

  t.test('restartChild after terminate with a short backoff: the cancelled timer does not start a second run', async (t) => {
    const c = fakeChild('w');
    const { sup, log } = supervisor([c], SHORT_BACKOFF_MS);
    t.teardown(() => sup.stop());
    await sup.start();
    await intoBackoff(sup, log, c);
    await sup.terminateChild('w');
    const pid = (await sup.restartChild('w')).pid;
    const starts = c.starts;
    await sleep(SHORT_BACKOFF_MS * 4);
    t.equal(c.starts, starts, 'no start when the old backoff would have ended');
    t.equal(child(sup, 'w').pid, pid);
    t.equal(c.live, 1);
  });

  t.test('startChild adds and starts another child at once', async (t) => {
    const c = fakeChild('w');
    const other = fakeChild('other');
    const { sup, log } = supervisor([c], LONG_BACKOFF_MS);
    t.teardown(() => sup.stop());
    await sup.start();
    await intoBackoff(sup, log, c);
    t.ok((await timed(() => sup.startChild(other.spec))) < 2_000, 'served before the backoff ends');
    t.match(sup.whichChildren(), [
      { id: 'w', state: 'restarting' },
      { id: 'other', state: 'running' },
    ]);
    await t.rejects(sup.startChild(fakeChild('w').spec), /a child with this id already runs under 'root'/, 'the waiting child still holds its id');
  });

  t.test('a stop ends the wait and nothing starts afterwards', async (t) => {
    const c = fakeChild('w');
    const { sup, log } = supervisor([c], SHORT_BACKOFF_MS);
    await sup.start();
    await intoBackoff(sup, log, c);
    const starts = c.starts;
    t.equal((await sup.stop()).reason, 'shutdown');
    await sleep(SHORT_BACKOFF_MS * 4);
    t.equal(c.starts, starts);
    t.equal(c.live, 0);
  });

  t.test('one_for_all: a sibling terminated during the group wait stays stopped, the rest restart', async (t) => {
    const a = fakeChild('a');
    const b = fakeChild('b');
    const { sup, log } = supervisor([a, b], SHORT_BACKOFF_MS, reportLog(), 'one_for_all');
    t.teardown(() => sup.stop());
    await sup.start();
    await intoBackoff(sup, log, a);
    t.match(sup.whichChildren(), [
      { id: 'a', state: 'restarting' },
      { id: 'b', state: 'restarting' },
    ]);
    await sup.terminateChild('b');
    await waitFor('a running again', () => child(sup, 'a').state === 'running');
    const bStarts = b.starts;
    await sleep(SHORT_BACKOFF_MS * 2);
    t.equal(b.starts, bStarts);
    t.match(sup.whichChildren(), [
      { id: 'a', state: 'running' },
      { id: 'b', state: 'stopped' },
    ]);
  });
});

t.test('unknown ids and paths are NoSuchChild', async (t) => {
  const a = fakeChild('a');
  const root = new Supervisor({ id: 'root', strategy: 'one_for_one', intensity: 1, periodMs: 5_000, children: [supervisorChild({ id: 'sub', strategy: 'one_for_one', intensity: 1, periodMs: 5_000, children: [a.spec] }), fakeChild('leaf').spec] });
  t.teardown(() => root.stop());
  await root.start();
  const missing = { name: 'NoSuchChild', childId: 'nope', supervisor: 'root', message: "no child 'nope' under supervisor 'root'" };
  await t.rejects(root.terminateChild('nope'), missing);
  await t.rejects(root.deleteChild('nope'), missing);
  await t.rejects(root.restartChild('nope'), missing);
  t.throws(() => root.childInfo('nope'), missing);
  await t.rejects(root.terminateChild('sub/nope'), { name: 'NoSuchChild', childId: 'nope', supervisor: 'sub' }, 'resolved inside the nested supervisor');
  await t.rejects(root.restartChild('leaf/x'), { name: 'NoSuchChild', childId: 'leaf', message: "no child 'leaf' under supervisor 'root' that is a supervisor" });
  t.ok(new NoSuchChild('x', 'y') instanceof Error);

  // Paths reach nested children; the call runs in the supervisor that owns the child.
  await root.terminateChild('sub/a');
  t.equal(root.childInfo('sub/a').state, 'stopped');
  t.match(await root.restartChild('sub/a'), { id: 'a', state: 'running' });
  await root.terminateChild('sub');
  await t.rejects(root.terminateChild('sub/a'), { name: 'NoSuchChild', message: "no child 'sub' under supervisor 'root' running now (it is stopped)" });
});
