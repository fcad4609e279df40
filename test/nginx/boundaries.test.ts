/**
 * What the internet side of a node may reach, against a real nginx with the rendered config in
 * front of real listeners: crafted paths (`\`, dot segments, their encodings) never reach a
 * service's runtime paths, a client-sent `x-hydra-role` never reaches a service, and a viewer
 * flood of held HTTP/2 streams cannot starve device ingest or /healthz.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, type ClientHttp2Session } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { http2Style } from '../../nginx/applyNginx.js';
import { renderNginx, type NginxInput, type NginxService } from '../../nginx/renderNginx.js';
import { waitFor } from '../helpers/wait.js';
import { testRedis } from '../helpers/redis.js';
import { makeCertificate, NGINX, nginxAvailable, startNginx, tempDir } from './nginxHarness.js';

if (!nginxAvailable()) {
  t.fail('nginx is not installed: apt-get install nginx (.ci/run does)');
  process.exit();
}

async function freePort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function serve(t: Test, handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { server, port: (server.address() as AddressInfo).port };
}

async function nodeNginx(t: Test, services: NginxService[], workerConnections = 256, more: Partial<NginxInput> = {}): Promise<number> {
  const dir = tempDir(t, 'bounds');
  const httpsPort = await freePort();
  const config = renderNginx({
    nodeId: 'edge-1',
    serverName: '_',
    httpsPort,
    httpPort: await freePort(),
    ipv6: false,
    http2: await http2Style(NGINX),
    ...makeCertificate(dir),
    admin: { host: '127.0.0.1', port: await freePort() },
    adminAllow: ['127.0.0.1'],
    services,
    workerConnections,
    ...more,
  });
  await startNginx(t, config, workerConnections);
  return httpsPort;
}

/** An HTTPS request with its target sent exactly as given (curl --path-as-is). */
function raw(port: number, method: string, target: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, method, path: target, rejectUnauthorized: false, agent: false, headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) }, timeout: 5_000 }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer to ${method} ${target} within 5 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

t.test('crafted paths and a client-sent x-hydra-role do not reach the functions of a real service instance through nginx', async (t) => {
  const r = await testRedis(t);
  const child = fork(fileURLToPath(new URL('../../runtime/serviceMain.ts', import.meta.url)), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, HYDRA_SERVICE_MODULE: fileURLToPath(new URL('../runtime/fixtures/functionsService.ts', import.meta.url)), HYDRA_CHILD_ID: 'tools#1', HYDRA_NODE_ID: 'edge-1', REDIS_URL: r.url, HYDRA_KEY_PREFIX: r.prefix },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  t.teardown(() => void child.kill('SIGKILL'));
  const [ready] = (await once(child, 'message')) as [{ t: string; port: number }];
  t.equal(ready.t, 'ready');
  // A header-echo service beside it, as a mount nginx proxies: what arrives is what nginx passed on.
  const echo = await serve(t, (req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(req.headers)));
  const port = await nodeNginx(t, [
    { mount: '/probe', instances: ['tools#1'], upstreams: [{ host: '127.0.0.1', port: ready.port }] },
    { mount: '/echo', instances: ['echo#1'], upstreams: [{ host: '127.0.0.1', port: echo.port }] },
  ]);
  for (const target of ['/probe/..\\_hydra/functions', '/probe/%5c_hydra/functions', '/probe/%5C..%5C_hydra/functions', '/probe/%2e%2e/_hydra/functions', '/probe/.%2E/_hydra/functions', '/probe/x/../../_hydra/functions', '/probe/%2f_hydra/functions', '/probe/x/..']) {
    const got = await raw(port, 'GET', target);
    t.equal(got.status, 400, `GET ${target}: 400`);
    t.notMatch(got.text, /functions|compact|wipe/, `GET ${target}: nothing of the functions`);
  }
  const wipe = await raw(port, 'POST', '/probe/..\\_hydra/functions/wipe', { 'x-hydra-role': 'operator', 'content-type': 'application/json' }, '{}');
  t.equal(wipe.status, 400, 'POST /probe/..\\_hydra/functions/wipe with x-hydra-role: operator is refused');
  t.notMatch(wipe.text, /wiped/);
  t.equal((await raw(port, 'GET', '/_hydra/functions')).status, 404, 'the runtime paths are not mounted');
  const headers = JSON.parse((await raw(port, 'GET', '/echo/headers', { 'x-hydra-role': 'operator', 'x-hydra-node-secret': 'guess' })).text) as IncomingHttpHeaders;
  t.notOk(headers['x-hydra-role'], 'nginx clears a client-sent x-hydra-role');
  t.notOk(headers['x-hydra-node-secret'], 'and x-hydra-node-secret');
  t.equal((await raw(port, 'GET', '/echo/a?next=%2F..%5C')).status, 200, 'an encoded slash in the query string passes');
});

/** TLS options to 127.0.0.1:port from a given local address (net.connect takes localAddress; tls's types omit it). */
function viaAddress(port: number, localAddress: string): ConnectionOptions {
  const options = { host: '127.0.0.1', port, localAddress, rejectUnauthorized: false, ALPNProtocols: ['h2'] };
  return options;
}

t.test('while 300 viewer streams are held open and one client tries 1024 more, ingest still answers 202 and /healthz 200', async (t) => {
  let sse = 0;
  const state = await serve(t, (req, res) => {
    sse++;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    res.write(': open\n\n');
  });
  const ingest = await serve(t, (req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(202, { 'content-type': 'application/json' }).end('{"accepted":1}'));
  });
  const admin = await serve(t, (req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
  const port = await nodeNginx(
    t,
    [
      { mount: '/state', instances: ['state#1'], upstreams: [{ host: '127.0.0.1', port: state.port }] },
      { mount: '/ingest', instances: ['ingest#1'], upstreams: [{ host: '127.0.0.1', port: ingest.port }] },
    ],
    1024,
    { admin: { host: '127.0.0.1', port: admin.port } },
  );

  const sessions: ClientHttp2Session[] = [];
  t.teardown(() => sessions.forEach((s) => s.destroy()));
  const statuses = new Map<string, number[]>();
  /** `streams` SSE requests from `address` over `connections` HTTP/2 connections; each status is counted. */
  const open = (address: string, connections: number, streams: number) => {
    const got: number[] = [];
    statuses.set(address, got);
    for (let c = 0; c < connections; c++) {
      // Each viewer from its own loopback address, as distinct clients are to nginx.
      const session = connect(`https://127.0.0.1:${port}`, { createConnection: () => tlsConnect(viaAddress(port, address)) });
      session.on('error', () => {});
      sessions.push(session);
      for (let i = 0; i < streams; i++) {
        const stream = session.request({ ':path': '/state/stream' });
        stream.on('response', (h) => got.push(Number(h[':status'])));
        stream.on('error', () => got.push(0));
        stream.on('data', () => {});
      }
    }
  };
  // Ten viewers (addresses 127.0.0.11-20) hold 30 streams each.
  for (let v = 11; v <= 20; v++) open(`127.0.0.${v}`, 1, 30);
  await waitFor('300 viewer streams held open', () => sse >= 300, 20_000);
  // One client tries what took the node down: several connections × 128 streams.
  open('127.0.0.2', 8, 128);
  // Before the limits, these took every worker connection and the waits below timed out.
  await waitFor('the flood to be answered', () => statuses.get('127.0.0.2')!.length >= 8 * 128, 15_000).catch(() => {});
  const flood = statuses.get('127.0.0.2')!;
  t.ok(flood.filter((s) => s === 200).length <= 64, `the flooding client holds at most 64 streams (${flood.filter((s) => s === 200).length} held, ${flood.filter((s) => s === 429).length} refused 429)`);
  t.ok(sse >= 300, `${sse} streams held open at the service`);

  const started = Date.now();
  const post = await raw(port, 'POST', '/ingest/packets', { 'content-type': 'application/octet-stream', authorization: 'Bearer device' }, 'frame');
  t.equal(post.status, 202, `ingest answers 202 while ${sse} streams are held (${Date.now() - started} ms)`);
  t.equal((await raw(port, 'GET', '/healthz')).status, 200, '/healthz answers 200');
  for (let v = 11; v <= 20; v++) t.same(statuses.get(`127.0.0.${v}`)!.filter((s) => s === 200).length, 30, `viewer 127.0.0.${v} holds its 30 streams`);
});
