/**
 * The admin API's child routes over a real HTTP server and real supervisors with fake children
 * (no process): restart, terminate and start by path through the supervisor's calls, 404 for an
 * unknown path, 409 for a child that runs or waits out its backoff, error bodies with an OTP
 * reason and no class names, and the admin server restarting itself after it answered.
 */
import t from 'tap';
import { adminHttpChild } from '../../node/adminHttp.js';
import type { RestartReport } from '../../node/adminChildActions.js';
import { adminHandler, type AdminContext } from '../../node/adminRoutes.js';
import { Supervisor, supervisorChild } from '../../supervisor/supervisor.js';
import { waitFor } from '../helpers/wait.js';
import { fakeChild, reportLog } from '../supervisor/fakeChildren.js';

const x = fakeChild('x#1');
const y = fakeChild('y#1');
const log = reportLog();
let adminUrl = '';
const ctx: AdminContext = { nodeId: 'n1', version: '0.0.0', startedAt: Date.now(), adminUrl: () => adminUrl, adminPath: 'system/admin-http', root: () => root, stop: () => undefined };
const root: Supervisor = new Supervisor({
  id: 'node',
  strategy: 'one_for_one',
  intensity: 3,
  periodMs: 60_000,
  children: [
    supervisorChild(
      { id: 'system', strategy: 'rest_for_one', intensity: 3, periodMs: 60_000, children: [adminHttpChild({ host: '127.0.0.1', port: 0, handler: adminHandler(ctx), onListening: (url) => (adminUrl = url), shutdownMs: 1_000 })] },
      { onReport: log.onReport },
    ),
    supervisorChild(
      { id: 'services', strategy: 'one_for_one', intensity: 10, periodMs: 60_000, backoffInitialMs: 20_000, backoffMaxMs: 20_000, backoffResetMs: 60_000, children: [x.spec, y.spec] },
      { onReport: log.onReport },
    ),
  ],
});
await root.start();
t.teardown(() => root.stop());

async function post(action: string, path: string, method = 'POST'): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${adminUrl}/admin/${action}/${path.split('/').map(encodeURIComponent).join('/')}`, { method });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const xInfo = () => root.childInfo('services/x#1');

t.test('restart gives a running child a new run', async (t) => {
  const before = xInfo().pid;
  const { status, body } = await post('restart', 'services/x#1');
  t.equal(status, 200);
  const report = body as unknown as RestartReport;
  t.equal(report.previousPid, before);
  t.not(report.child?.pid, before);
  t.match(report.child, { id: 'x#1', state: 'running', restarts: 0 });
  t.equal(x.live, 1);
});

t.test('terminate stops a child and keeps it; start runs it again; start of a running child is 409', async (t) => {
  const before = xInfo().pid;
  const stopped = await post('terminate', 'node/services/x#1');
  t.equal(stopped.status, 200);
  t.match(stopped.body, { path: 'services/x#1', previousPid: before, child: { id: 'x#1', state: 'stopped', pid: null } });
  t.equal(x.live, 0);
  const started = await post('start', 'services/x#1');
  t.equal(started.status, 200);
  t.match(started.body, { path: 'services/x#1', previousPid: null, child: { id: 'x#1', state: 'running', pid: Number } });
  const again = await post('start', 'services/x#1');
  t.equal(again.status, 409);
  t.same(again.body, { error: "child 'x#1' under supervisor 'services' is running; terminate it first", reason: 'running' });
});

t.test('during a backoff wait: start is 409 restarting; restart cancels the wait and starts it now', async (t) => {
  x.crash();
  await waitFor('x restarted at once', () => xInfo().state === 'running' && xInfo().restarts === 1);
  const waiting = log.next((r) => r.context === 'restarting' && (r.delayMs ?? 0) > 0);
  x.crash();
  await waiting;
  const refused = await post('start', 'services/x#1');
  t.equal(refused.status, 409);
  t.equal(refused.body.reason, 'restarting');
  t.match(refused.body.error, /is restarting \(waiting out its backoff\)/);
  const began = Date.now();
  const restarted = await post('restart', 'services/x#1');
  t.equal(restarted.status, 200);
  t.ok(Date.now() - began < 5_000, 'not after the 20 s backoff');
  t.match(restarted.body.child, { state: 'running' });
  t.equal(x.live, 1);
});

t.test('unknown paths are 404 with reason not_found; a wrong method is 405', async (t) => {
  for (const action of ['restart', 'terminate', 'start']) {
    const r = await post(action, 'services/z#9');
    t.equal(r.status, 404, action);
    t.same(r.body, { error: "no child 'services/z#9' in the tree of node n1", reason: 'not_found' });
  }
  const through = await post('restart', 'services/x#1/deeper');
  t.equal(through.status, 404, 'a path through a worker');
  const wrong = await fetch(`${adminUrl}/admin/terminate/services/x%231`);
  t.equal(wrong.status, 405);
  t.equal(wrong.headers.get('allow'), 'POST');
  await wrong.text();
});

t.test('error bodies name no error class', async (t) => {
  const bodies = [await post('start', 'services/y#1'), await post('restart', 'nope')].map((r) => JSON.stringify(r.body));
  for (const body of bodies) t.notMatch(body, /ChildRunning|NoSuchChild|Error/);
});

t.test('the admin server restarts itself after answering 202', async (t) => {
  const before = root.childInfo('system/admin-http').pid;
  const restarted = log.next((r) => r.supervisor === 'system' && r.context === 'child_started' && r.offender === 'admin-http');
  const r = await post('restart', 'system/admin-http');
  t.equal(r.status, 202);
  t.same(r.body, { path: 'system/admin-http', previousPid: before, child: null });
  await restarted;
  t.equal(root.childInfo('system/admin-http').state, 'running');
  const healthz = await waitFor('admin answers again', () => fetch(`${adminUrl}/healthz`).then((res) => res.ok).catch(() => false));
  t.ok(healthz);
});
