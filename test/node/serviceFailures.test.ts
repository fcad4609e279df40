/**
 * One bad service never keeps the node down (issue 14, finding 2): a service that cannot bind
 * its port is reported failed with its reason (tree, /admin/tree, /metrics) and retried with
 * backoff, while the node serves /healthz and its other services. And a crash loop (finding 3)
 * parks the service after 3 crashes instead of using up `services`' intensity: its siblings are
 * never restarted and the daemon runs on.
 */
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import t from 'tap';
import type { NodeTreeReport } from '../../node/adminRoutes.js';
import { walk } from '../../node/metrics.js';
import type { ChildInfo } from '../../supervisor/types.js';
import { waitFor } from '../helpers/wait.js';
import { FIXTURES, getJson, startNode } from './nodeProcess.js';

t.setTimeout(240_000);

const light = (id: string) => ({ id, module: path.join(FIXTURES, 'light.mjs'), startTimeoutMs: 20_000 });

function find(tree: ChildInfo, p: string): ChildInfo | undefined {
  return walk(tree).find((x) => x.path === p)?.child;
}

/** Holds a free port below the ephemeral range, as another program would. */
async function holdPort(): Promise<{ port: number; server: Server }> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const server = createServer();
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) return { port, server };
  }
}

t.test('a service that cannot bind its port: the node still starts, serves, and reports the failure with its reason', async (t) => {
  const held = await holdPort();
  t.teardown(() => void held.server.close());
  // `taken#1` gets the port base (held), `ok#1` the next one.
  const node = await startNode(t, { services: [light('taken'), light('ok')] }, { HYDRA_SERVICE_PORT_BASE: String(held.port) });

  const health = await fetch(`${node.file.adminUrl}/healthz`);
  t.equal(health.status, 200, '/healthz answers 200');
  const ok = await getJson<{ ok: boolean }>(`http://127.0.0.1:${held.port + 1}/light/`).catch(() => getJson<{ ok: boolean }>(`http://127.0.0.1:${held.port + 1}/`));
  t.match(ok, { status: 200, body: { ok: true } }, 'the healthy sibling serves on its port');

  const failed = await waitFor('taken#1 reported failed', async () => {
    const c = find((await getJson<NodeTreeReport>(`${node.file.adminUrl}/admin/tree`)).body.tree, 'services/taken#1');
    return c?.state === 'failed' ? c : null;
  });
  t.match(failed.lastExit?.reason, /EADDRINUSE/, `/admin/tree gives the reason: ${failed.lastExit?.reason}`);
  t.type(failed.retryAt, 'number', 'and when it is tried again');
  t.match(find((await getJson<NodeTreeReport>(`${node.file.adminUrl}/admin/tree`)).body.tree, 'services/ok#1'), { state: 'running', restarts: 0 });

  const metrics = await (await fetch(`${node.file.adminUrl}/metrics`)).text();
  t.match(metrics, /hydra_child_failed\{node="test-node",path="services\/taken#1",reason="[^"]*EADDRINUSE[^"]*"\} 1/, '/metrics reports it failed with the reason');
  t.match(metrics, /hydra_child_up\{node="test-node",path="services\/ok#1",kind="worker",version="[^"]*"\} 1/);

  // Between its retries (it may be starting again when asked).
  const tree = await waitFor('`hydra node tree` to show the failure', async () => {
    const out = (await node.cli('node', 'tree')).stdout;
    return /services\/taken#1 failed: .*EADDRINUSE/.test(out) ? out : null;
  }, 30_000, 100);
  t.match(tree, /services\/taken#1 failed: .*EADDRINUSE/, '`hydra node tree` shows the failure and its reason');

  // The port comes free: a retry (with backoff) starts it.
  await new Promise<void>((resolve) => held.server.close(() => resolve()));
  const running = await waitFor('taken#1 started by a retry', async () => {
    const c = find((await getJson<NodeTreeReport>(`${node.file.adminUrl}/admin/tree`)).body.tree, 'services/taken#1');
    return c?.state === 'running' ? c : null;
  }, 60_000, 200);
  t.equal(running.port, held.port, 'it serves on its own port once free');
  t.match(node.output(), /"context":"child_parked"/, 'the parking was logged');
});

t.test('a crash loop in one service parks it; the node and its healthy siblings run on untouched', async (t) => {
  // Before parking (issue 14, finding 3), `services` gave up at the first crash here (intensity
  // 0), taking `ok` down with it, and the root's restarts of it ended the daemon with exit 1.
  const bad = { ...light('bad'), module: path.join(FIXTURES, 'lightCrash.mjs'), env: { CRASH_AFTER_MS: '300' } };
  const node = await startNode(t, { intensity: 0, services: [light('ok'), bad] });
  const tree = async () => (await getJson<NodeTreeReport>(`${node.file.adminUrl}/admin/tree`)).body.tree;
  const ok0 = find(await tree(), 'services/ok#1')!;
  const parked = await waitFor('bad#1 parked after 3 crashes', async () => {
    const c = find(await tree(), 'services/bad#1')!;
    return c.state === 'failed' && c.retryAt !== undefined ? c : null;
  }, 90_000, 100);
  t.match(parked.lastExit, { normal: false, code: 3 }, `parked with its last exit: ${parked.lastExit?.reason}`);
  t.match(node.output(), /"context":"child_parked","reason":"exit code 3; parked, next start in \d+ ms","offender":"bad#1"/, 'the parking is logged with the reason');
  await waitFor('bad#1 tried again after its backoff', async () => find(await tree(), 'services/bad#1')!.restarts > parked.restarts, 60_000, 100);
  t.match(find(await tree(), 'services/ok#1'), { state: 'running', restarts: 0, pid: ok0.pid }, 'the healthy sibling was never restarted');
  t.equal(node.proc.exitCode, null, 'the daemon runs on');
  t.notMatch(node.output(), /reached_max_restart_intensity/, 'no supervisor gave up');
  t.equal((await fetch(`${node.file.adminUrl}/healthz`)).status, 200, '/healthz answers 200');
});
