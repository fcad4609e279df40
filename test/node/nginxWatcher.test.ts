/**
 * The node's nginx watcher against a real nginx master (temp prefix, free high ports): a change
 * of placement re-renders and reloads, the same placements reload nothing, a render nginx
 * rejects is never loaded (the old config keeps serving), and a hot swap's traffic switch takes
 * the retiring instance out before it drains. Requests go through nginx over HTTPS, a WebSocket
 * included.
 */
import { createServer, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readFileSync, statSync } from 'node:fs';
import t, { type Test } from 'tap';
import { WebSocket, WebSocketServer } from 'ws';
import type { NginxSettings } from '../../nginx/config.js';
import { NginxWatcher } from '../../node/nginxWatcher.js';
import { renderNginx } from '../../nginx/renderNginx.js';
import { http2Style } from '../../nginx/applyNginx.js';
import { createLogger } from '../../core/log.js';
import type { ChildInfo } from '../../supervisor/types.js';
import { freePort } from '../helpers/supervisedService.js';
import { waitFor } from '../helpers/wait.js';
import { makeCertificate, NGINX, nginxAvailable, nodeTree, startNginx, tempDir, worker, type TestNginx } from '../nginx/nginxHarness.js';

if (!nginxAvailable()) {
  t.fail('nginx is not installed: apt-get install nginx (.ci/run does)');
  process.exit();
}

/** A backend answering `<name> <path>`, with a WebSocket that greets with its name. */
async function backend(t: Test, name: string): Promise<number> {
  const server: Server = createServer((req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(`${name} ${req.url}`);
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.send(`hello from ${name}`));
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  t.teardown(() => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    server.closeAllConnections();
    server.close();
  });
  return port;
}

function get(url: string, ca: Buffer): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

interface Rig {
  nginx: TestNginx;
  settings: NginxSettings;
  watcher: NginxWatcher;
  base: string;
  ca: Buffer;
  httpPort: number;
  setTree(services: ChildInfo[]): void;
}

async function rig(t: Test): Promise<Rig> {
  const dir = tempDir(t, 'watcher');
  const cert = makeCertificate(dir);
  const [httpsPort, httpPort, adminPort] = [await freePort(), await freePort(), await freePort()];
  const admin = createServer((req, res) => res.end(req.url === '/healthz' ? '{"status":"ok"}' : 'admin'));
  await new Promise<void>((r) => admin.listen(adminPort, '127.0.0.1', r));
  t.teardown(() => admin.close());
  const base = { nodeId: 'test-node', serverName: '_', httpsPort, httpPort, ipv6: false, ...cert, admin: { host: '127.0.0.1', port: adminPort }, adminAllow: ['127.0.0.1'] };
  // nginx starts with the node's config before any service runs, as boot.sh starts it.
  const nginx = await startNginx(t, renderNginx({ ...base, http2: await http2Style(NGINX), services: [] }));
  const settings: NginxSettings = { file: nginx.include, nginxBin: NGINX, reload: nginx.reload, pidFile: nginx.pidFile, serverName: '_', httpsPort, httpPort, ipv6: false, ...cert, adminAllow: ['127.0.0.1'], intervalMs: 50 };
  let tree = nodeTree([]);
  const watcher = new NginxWatcher({ settings, nodeId: 'test-node', tree: () => tree, admin: () => base.admin, serviceHost: '127.0.0.1', log: createLogger({}, { write: () => undefined }) });
  watcher.start();
  t.teardown(() => watcher.stop());
  return { nginx, settings, watcher, base: `https://127.0.0.1:${httpsPort}`, ca: readFileSync(cert.certificate), httpPort, setTree: (s) => (tree = nodeTree(s)) };
}

t.test('a change of placement re-renders and reloads; the same placements reload nothing', async (t) => {
  const r = await rig(t);
  const [a, b] = [await backend(t, 'alpha'), await backend(t, 'beta')];
  t.equal((await get(`${r.base}/healthz`, r.ca)).status, 200, '/healthz answers from the admin');
  t.equal((await get(`${r.base}/svc/x`, r.ca)).status, 404, 'nothing mounted yet');

  r.setTree([worker('svc#1', a, '/svc')]);
  await waitFor('the watcher to apply the new placement', () => r.watcher.counters.applied === 1);
  t.equal((await get(`${r.base}/svc/x`, r.ca)).body, 'alpha /svc/x', 'once applied, nginx routes /svc to the instance');
  const mtime = statSync(r.nginx.include).mtimeMs;
  const looked = r.watcher.counters.renders;
  await waitFor('eight more passes over the same tree', () => r.watcher.counters.renders >= looked + 8);
  t.equal(r.watcher.counters.applied, 1, 'no rewrite and no reload while nothing changes');
  t.equal(statSync(r.nginx.include).mtimeMs, mtime);
  t.ok(r.watcher.counters.renders > 5, 'while it kept looking');

  // The instance moves (restarted elsewhere by the scheduler): the upstream follows.
  r.setTree([worker('svc#1', b, '/svc')]);
  await waitFor('the watcher to apply the move', () => r.watcher.counters.applied === 2);
  t.equal((await get(`${r.base}/svc/y`, r.ca)).body, 'beta /svc/y', 'the upstream followed the instance');

  const redirect = await fetch(`http://127.0.0.1:${r.httpPort}/svc/y?q=1`, { redirect: 'manual' });
  t.equal(redirect.status, 301, 'port 80 redirects');
  t.equal(redirect.headers.get('location'), `${r.base}/svc/y?q=1`);
  t.match((await get(`${r.base}/svc/y`, r.ca)).headers, { 'strict-transport-security': 'max-age=63072000' });

  // A WebSocket through nginx: upgrade passed on, frames delivered.
  const ws = new WebSocket(`wss://127.0.0.1:${new URL(r.base).port}/svc/ws`, { ca: r.ca });
  t.teardown(() => ws.terminate());
  const greeting = await new Promise<string>((resolve, reject) => {
    ws.once('message', (d) => resolve(String(d)));
    ws.once('error', reject);
  });
  t.equal(greeting, 'hello from beta');
});

t.test('a render nginx rejects is never loaded: the old config keeps serving', async (t) => {
  const r = await rig(t);
  const a = await backend(t, 'alpha');
  r.setTree([worker('svc#1', a, '/svc')]);
  await waitFor('the watcher to apply the placement', () => r.watcher.counters.applied === 1);
  t.equal((await get(`${r.base}/svc/x`, r.ca)).body, 'alpha /svc/x');
  const good = readFileSync(r.nginx.include, 'utf8');

  // The certificate file the settings name is gone (say, an operator moved it): nginx -t fails.
  const certificate = r.settings.certificate;
  r.settings.certificate = `${certificate}.missing`;
  await waitFor('the watcher to report the rejection', () => r.watcher.counters.rejected === 1);
  t.equal(r.watcher.status().healthy, false);
  t.match(r.watcher.status().detail, /nginx rejected the rendered config; the previous one stays loaded/);
  t.equal(readFileSync(r.nginx.include, 'utf8'), good, 'the live file was not touched');
  t.equal((await get(`${r.base}/svc/z`, r.ca)).body, 'alpha /svc/z', 'nginx still serves with the old config');
  const looked = r.watcher.counters.renders;
  await waitFor('several more passes over the same bad render', () => r.watcher.counters.renders >= looked + 5);
  t.equal(r.watcher.counters.rejected, 1, 'the same bad render is not tested again every interval');
  t.equal(r.watcher.counters.applied, 1);

  r.settings.certificate = certificate;
  await waitFor('the watcher to be healthy again', () => r.watcher.status().healthy);
  t.equal(readFileSync(r.nginx.include, 'utf8'), good);
});

t.test("a hot swap's traffic switch takes the retiring instance out before it drains", async (t) => {
  const r = await rig(t);
  const [old, next] = [await backend(t, 'old'), await backend(t, 'new')];
  r.setTree([worker('svc@aaa#1', old, '/svc')]);
  await waitFor('the watcher to apply the placement', () => r.watcher.counters.applied === 1);
  t.equal((await get(`${r.base}/svc/`, r.ca)).body, 'old /svc/');
  // The new version is ready beside the old one: both serve.
  r.setTree([worker('svc@aaa#1', old, '/svc'), worker('svc@bbb#1', next, '/svc')]);
  await waitFor('both instances in the upstream', () => readFileSync(r.nginx.include, 'utf8').includes(`127.0.0.1:${next}`));
  await r.watcher.switchTraffic(['services/svc@aaa#1']);
  const text = readFileSync(r.nginx.include, 'utf8');
  t.notMatch(text, `127.0.0.1:${old} `, 'the retiring instance left the upstream');
  for (let i = 0; i < 6; i++) t.equal((await get(`${r.base}/svc/`, r.ca)).body, 'new /svc/', 'every request reaches the new version');
});
