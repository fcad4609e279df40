/**
 * The service runtime (runtime/serviceMain.ts) as a real child process with IPC,
 * over the real Redis: readiness, the consume → emit → ack order, dead-lettering of bad emits,
 * HTTP, draining on SIGTERM, start failures, and dying with its parent's IPC channel.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { Channel, createRedisTransport, decodeEntry, type EntryFields } from '../../channels/index.js';
import { EXIT_SUPERVISOR_GONE } from '../../supervisor/childLink.js';
import type { ChildMessage } from '../../supervisor/ipc.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const MAIN = fileURLToPath(new URL('../../runtime/serviceMain.ts', import.meta.url));
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

interface Running {
  child: ChildProcess;
  messages: ChildMessage[];
  logs: Array<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The first message of kind `kind`; rejects if the process exits before sending it. */
  message<K extends ChildMessage['t']>(kind: K): Promise<Extract<ChildMessage, { t: K }>>;
}

function startService(t: Test, module: string, env: Record<string, string>): Running {
  const child = fork(MAIN, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, HYDRA_SERVICE_MODULE: module, HYDRA_CHILD_ID: 'echo#1', HYDRA_HEARTBEAT_MS: '100', HYDRA_NODE_ID: 'test-node', ...env },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  const messages: ChildMessage[] = [];
  const logs: Array<Record<string, unknown>> = [];
  child.on('message', (m: ChildMessage) => messages.push(m));
  createInterface({ input: child.stdout! }).on('line', (line) => logs.push(JSON.parse(line) as Record<string, unknown>));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const message = <K extends ChildMessage['t']>(kind: K) =>
    Promise.race([
      waitFor(`a '${kind}' message`, () => messages.find((m): m is Extract<ChildMessage, { t: K }> => m.t === kind), 20_000),
      exited.then(({ code }) => messages.find((m): m is Extract<ChildMessage, { t: K }> => m.t === kind) ?? Promise.reject(new Error(`service exited (${code}) before sending '${kind}'`))),
    ]);
  return { child, messages, logs, exited, message };
}

function channels(t: Test, r: TestRedis) {
  const transport = createRedisTransport({ url: r.url, keyPrefix: r.prefix });
  t.teardown(() => transport.close());
  const a = new Channel(transport, 'a');
  const b = new Channel(transport, 'b');
  const outputs = async () =>
    ((await r.redis.xrange(`${r.prefix}b`, '-', '+')) as Array<[string, string[]]>).map(([id, flat]) => {
      const fields: EntryFields = {};
      for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
      return decodeEntry(id, fields) as { key?: string; type: string; v: number; body: { n: number; by: string; src: string } };
    });
  const publish = (ns: Array<number | Record<string, unknown>>) => a.publishMany(ns.map((n) => ({ type: 'num', v: 1, key: 'k', body: typeof n === 'number' ? { n } : n })));
  return { a, b, outputs, publish };
}

/** The latest heartbeat whose counters pass `test`. */
const lastHeartbeat = (svc: Running, test: (counters: Record<string, number>) => boolean) =>
  [...svc.messages].reverse().find((m) => m.t === 'heartbeat' && test(m.status.counters));

const redisEnv = (r: TestRedis) => ({ REDIS_URL: r.url, HYDRA_KEY_PREFIX: r.prefix });

/** A functions socket in a private temp folder and a secret, as the node's ServicesHost hands them out. */
function functionsEnv(t: Test): { socket: string; secret: string; env: Record<string, string> } {
  const dir = mkdtempSync(path.join(tmpdir(), 'hydra-fn-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socket = path.join(dir, 'tools.sock');
  const secret = randomBytes(32).toString('base64url');
  return { socket, secret, env: { HYDRA_FUNCTIONS_SOCKET: socket, HYDRA_FUNCTIONS_SECRET: secret } };
}

type Answer = { status: number; body: Record<string, unknown> };

/** One request with its target sent exactly as given (no URL normalisation). */
function rawRequest(where: { socketPath: string } | { host: string; port: number }, method: string, target: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ ...where, method, path: target, headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
const onSocket = (socketPath: string, method: string, target: string, headers: Record<string, string>, body?: string) => rawRequest({ socketPath }, method, target, headers, body);
const onPort = (port: number, method: string, target: string, headers: Record<string, string>, body?: string) => rawRequest({ host: '127.0.0.1', port }, method, target, headers, body);

t.test('says ready only after its consumer has handled its own pending entries', async (t) => {
  const r = await testRedis(t);
  const { a, outputs, publish } = channels(t, r);
  // What a crashed earlier run left: five entries delivered to echo#1, never acknowledged.
  await publish([0, 1, 2, 3, 4]);
  await r.redis.xgroup('CREATE', `${r.prefix}a`, 'echo', '0');
  await r.redis.xreadgroup('GROUP', 'echo', 'echo#1', 'COUNT', 5, 'STREAMS', `${r.prefix}a`, '>');
  t.same(await a.groups(), [{ name: 'echo', pending: 5, lag: 0 }]);

  const svc = startService(t, fixture('echoService.ts'), redisEnv(r));
  const ready = await svc.message('ready');
  t.same(await a.groups(), [{ name: 'echo', pending: 0, lag: 0 }], 'nothing pending at the moment ready arrives');
  t.same((await outputs()).map((o) => o.body.n), [0, 1, 2, 3, 4], 'their outputs were published before ready');
  t.equal(ready.version, '1.0.0');
  t.type(ready.port, 'number', 'a service with routes listens on an ephemeral port');
  t.equal(ready.mount, '/echo', 'and says where its routes are mounted (what nginx proxies)');
  const beat = await waitFor('a heartbeat after ready', () => svc.messages.find((m) => m.t === 'heartbeat' && m.status.healthy));
  t.match(beat, { status: { healthy: true, detail: 'echoing', counters: { handled: 5, failed: 0, deadLettered: 0, emitted: 5, httpRequests: 0, batches: 1 } } });
  t.match(svc.logs.find((l) => l.msg === 'ready'), { level: 'info', node: 'test-node', component: 'service', service: 'echo', version: '1.0.0', instance: 'echo#1' });
});

t.test('transforms every message of channel a into channel b, then acknowledges it', async (t) => {
  const r = await testRedis(t);
  const { a, outputs, publish } = channels(t, r);
  const svc = startService(t, fixture('echoService.ts'), redisEnv(r));
  await svc.message('ready');
  const ns = Array.from({ length: 200 }, (_, i) => i);
  await publish(ns);
  await waitFor('200 outputs', async () => (await outputs()).length >= 200);
  await waitFor('nothing pending on a', async () => (await a.groups())[0]?.pending === 0 && (await a.groups())[0]?.lag === 0);
  const out = await outputs();
  t.same(out.map((o) => o.body.n), ns, 'every message, once, in order');
  t.ok(out.every((o) => o.type === 'num' && o.v === 1 && o.key === 'k' && o.body.by === 'echo#1'), 'type@v, key and instance carried');
});

t.test('an emit to an undeclared channel or type fails the handler; the entry is dead-lettered with that error', async (t) => {
  const r = await testRedis(t);
  const { a, outputs, publish } = channels(t, r);
  const svc = startService(t, fixture('echoService.ts'), redisEnv(r));
  await svc.message('ready');
  await publish([1, { n: 2, emitTo: 'nope' }, { n: 3, emitType: 'num@2' }, 4]);
  const dead = await waitFor('two dead letters', async () => {
    const d = await a.deadLetters();
    return d.length === 2 ? d : null;
  });
  t.match(dead[0], { group: 'echo', consumer: 'echo#1', deliveries: 2, error: /emit channel: "nope" is invalid; expected a channel declared in produces of service 'echo' \(b\)/ });
  t.match(dead[1], { deliveries: 2, error: /emit type on 'b': "num@2" is invalid; expected a type@v declared for it in produces \(num@1\)/ });
  t.same((await outputs()).map((o) => o.body.n), [1, 4], 'the good messages of the batch went through; the failed ones emitted nothing');
  await waitFor('nothing pending', async () => (await a.groups())[0]?.pending === 0);
  const beat = await waitFor('counters', () => lastHeartbeat(svc, (c) => c.deadLettered === 2));
  t.match(beat, { status: { counters: { handled: 2, deadLettered: 2 } } });
});

t.test('serves its routes under /<name>/ and /healthz', async (t) => {
  const r = await testRedis(t);
  const svc = startService(t, fixture('echoService.ts'), redisEnv(r));
  const { port } = await svc.message('ready');
  const base = `http://127.0.0.1:${port}`;
  const get = async (path: string, init?: RequestInit) => {
    const res = await fetch(`${base}${path}`, init);
    return { status: res.status, type: res.headers.get('content-type'), body: (await res.json()) as unknown };
  };
  t.same(await get('/echo/sites/north%20pit?q=x'), { status: 200, type: 'application/json', body: { site: 'north pit', q: 'x' } });
  t.same(await get('/echo/echo', { method: 'POST', body: JSON.stringify({ a: [1, 2] }) }), { status: 201, type: 'application/json', body: { a: [1, 2] } });
  t.match(await get('/echo/echo', { method: 'POST', body: '{nope' }), { status: 400, body: { error: /not valid JSON/ } });
  t.match(await get('/echo/missing'), { status: 404, body: { error: /no route GET \/echo\/missing/ } });
  t.match(await get('/other/sites/x'), { status: 404 });
  t.match(await get('/echo/echo'), { status: 405, body: { error: /GET is not allowed/ } });
  t.match(await get('/echo/boom'), { status: 500, body: { error: 'kaboom' } });
  t.match(await get('/echo/echo', { method: 'POST', body: Buffer.alloc(1024 * 1024 + 1, 'x') }), { status: 413, body: { error: /over the limit/ } });
  // Many at once, each well over the limit: every client reads its 413 (the rest of the body
  // is drained, not cut off mid-upload, which can reset the connection before the answer is read).
  const big = Buffer.alloc(3 * 1024 * 1024, 'x');
  const answers = await Promise.all(Array.from({ length: 40 }, () => get('/echo/echo', { method: 'POST', body: big }).catch((err: Error) => ({ status: 0, error: String(err.cause ?? err) }))));
  t.same([...new Set(answers.map((a) => a.status))], [413], 'all 40 oversized uploads got their 413');
  t.match(await get('/echo/sites/x'), { status: 200 }, 'and the service answers normally afterwards');
  t.same(await get('/healthz'), { status: 200, type: 'application/json', body: { healthy: true, detail: 'echoing', service: 'echo', version: '1.0.0', instance: 'echo#1' } });
  const beat = await waitFor('http counter', () => lastHeartbeat(svc, (c) => c.httpRequests === 8));
  t.ok(beat, 'route requests counted, /healthz not');
});

t.test('SIGTERM mid-stream: exits 0 with the work in hand finished and acknowledged', async (t) => {
  const r = await testRedis(t);
  const { a, outputs, publish } = channels(t, r);
  const svc = startService(t, fixture('echoService.ts'), { ...redisEnv(r), ECHO_DELAY_MS: '30', ECHO_BATCH_SIZE: '10' });
  await svc.message('ready');
  await publish(Array.from({ length: 300 }, (_, i) => i));
  await waitFor('some outputs', async () => (await outputs()).length >= 30);
  svc.child.kill('SIGTERM');
  t.same(await svc.exited, { code: 0, signal: null }, 'exit code 0');
  const [group] = await a.groups();
  t.equal(group?.pending, 0, 'nothing left pending');
  t.ok(group!.lag > 0, `stopped mid-stream (${group!.lag} entries not yet delivered)`);
  const ns = (await outputs()).map((o) => o.body.n);
  t.equal(new Set(ns).size, ns.length, 'no duplicates');
  t.equal(ns.length, 300 - group!.lag, 'every delivered (and so acknowledged) entry has its output');
  t.ok(svc.logs.some((l) => l.msg === 'stopped'), 'logged its stop');
});

t.test('init that throws: start_failed with the reason, exit code 1', async (t) => {
  const r = await testRedis(t);
  const svc = startService(t, fixture('initThrowsService.ts'), redisEnv(r));
  t.match(await svc.message('start_failed'), { reason: 'Error: database unreachable at init' });
  t.same(await svc.exited, { code: 1, signal: null });
  t.match(svc.logs.find((l) => l.msg === 'start failed'), { level: 'error', service: 'init-throws', err: /database unreachable/ });
  t.notOk(svc.messages.some((m) => m.t === 'ready'));
});

t.test('a manifest with a bad field: start_failed naming the field', async (t) => {
  const r = await testRedis(t);
  const svc = startService(t, fixture('badManifestService.ts'), redisEnv(r));
  t.match(await svc.message('start_failed'), { reason: `SpecError: consumes['a'][0]: "num" is invalid; expected a 'type@v' string such as packet.raw@1` });
  t.same(await svc.exited, { code: 1, signal: null });
});

t.test('a bad environment variable: start_failed naming it', async (t) => {
  const r = await testRedis(t);
  const svc = startService(t, fixture('echoService.ts'), { ...redisEnv(r), HYDRA_PORT: 'eighty' });
  t.match(await svc.message('start_failed'), { reason: /^ConfigError: HYDRA_PORT: 'eighty' is not a port/ });
  t.same(await svc.exited, { code: 1, signal: null });
});

t.test("exits when its parent's IPC channel closes", async (t) => {
  const r = await testRedis(t);
  const svc = startService(t, fixture('echoService.ts'), redisEnv(r));
  await svc.message('ready');
  const started = Date.now();
  svc.child.disconnect();
  t.same(await svc.exited, { code: EXIT_SUPERVISOR_GONE, signal: null });
  t.ok(Date.now() - started < 2_000, `gone in ${Date.now() - started} ms`);
});

t.test('functions with typed parameters (on the functions socket, with the node secret): defaults filled, bad arguments refused naming them, listed', async (t) => {
  const r = await testRedis(t);
  const fn = functionsEnv(t);
  const svc = startService(t, fixture('functionsService.ts'), { ...redisEnv(r), ...fn.env });
  await svc.message('ready');
  const call = async (name: string, args?: unknown, method = 'POST') =>
    onSocket(fn.socket, method, `/_hydra/functions/${name}`, { 'x-hydra-node-secret': fn.secret }, method === 'POST' ? JSON.stringify(args === undefined ? {} : { args }) : undefined);
  t.same(await call('compact', { site: 3 }), { status: 200, body: { result: { got: { site: 3, keep: 100, dryRun: false, tags: [] } } } }, 'defaults filled in, the optional one left out');
  t.same(await call('compact', { site: 3, keep: 5, note: 'x', tags: ['a'] }), { status: 200, body: { result: { got: { site: 3, keep: 5, dryRun: false, tags: ['a'], note: 'x' } } } });
  t.same(await call('compact', {}), { status: 400, body: { error: "compact: argument 'site' is missing (an integer)" } });
  t.same(await call('compact', { site: 'north', keep: 1.5, extra: 1 }), {
    status: 400,
    body: { error: `compact: unknown argument 'extra' (compact takes site, keep, dryRun, tags, note); argument 'site': expected an integer, got "north"; argument 'keep': expected an integer, got 1.5` },
  });
  t.same(await call('echo', { anything: [1] }), { status: 200, body: { result: { anything: [1] } } }, 'a plain function takes any object');
  const wipe = (role?: string) => onSocket(fn.socket, 'POST', '/_hydra/functions/wipe', { 'x-hydra-node-secret': fn.secret, ...(role ? { 'x-hydra-role': role } : {}) }, '{}');
  t.same(await wipe('operator'), { status: 200, body: { result: 'wiped' } }, 'an operator may call an operator-only function');
  t.same(await wipe('scheduler'), { status: 403, body: { error: 'wipe may be called as operator only; this call came as scheduler' } }, 'a cron job may not');
  t.same(await wipe(), { status: 403, body: { error: 'wipe may be called as operator only; this call came as no role' } }, 'nor a call without a role');
  const list = await onSocket(fn.socket, 'GET', '/_hydra/functions', { 'x-hydra-node-secret': fn.secret });
  t.same(list.body, {
    service: 'tools',
    version: '1.0.0',
    functions: [
      { name: 'compact', description: 'keeps the newest entries of a site', params: { site: { type: 'integer', description: 'site id' }, keep: { type: 'integer', default: 100 }, dryRun: { type: 'boolean', default: false }, tags: { type: 'array', default: [] }, note: { type: 'string', required: false } }, roles: null },
      { name: 'echo', description: null, params: null, roles: null },
      { name: 'wipe', description: null, params: {}, roles: ['operator'] },
    ],
  });
  t.equal((await call('', undefined, 'POST')).status, 405, 'the list is read with GET');
});

t.test('functions are not on the public port: crafted paths are refused (400), a client-sent role is ignored, the socket wants the secret', async (t) => {
  const r = await testRedis(t);
  const fn = functionsEnv(t);
  const svc = startService(t, fixture('functionsService.ts'), { ...redisEnv(r), ...fn.env });
  const { port } = await svc.message('ready');
  // A raw request, so the client library cannot normalise the target first (as curl --path-as-is).
  const raw = (method: string, target: string, headers: Record<string, string> = {}) => onPort(port!, method, target, headers, method === 'POST' ? '{}' : undefined);
  for (const target of ['/probe/..\\_hydra/functions', '/probe/%5c_hydra/functions', '/probe/%5C..%5C_hydra/functions', '/probe/%2e%2e/_hydra/functions', '/probe/../_hydra/functions', '/probe/./x', '/probe/%2F_hydra/functions', '/probe/.%2e/_hydra/functions']) {
    const got = await raw('GET', target);
    t.equal(got.status, 400, `GET ${target} is refused`);
    t.match(got.body.error, /request path/, `GET ${target} says why`);
  }
  const wipe = await raw('POST', '/probe/..\\_hydra/functions/wipe', { 'x-hydra-role': 'operator' });
  t.equal(wipe.status, 400, 'the wipe of the report, with a client-sent x-hydra-role: operator, is refused');
  t.same(await raw('GET', '/_hydra/functions'), { status: 404, body: { error: 'no route GET /_hydra/functions; this service serves under /tools/' } }, 'the public port has no functions, even asked directly');
  t.same((await raw('POST', '/_hydra/functions/wipe', { 'x-hydra-role': 'operator' })).status, 404, 'nor an operator-only one with a client-sent role');
  t.equal((await raw('GET', '/healthz?next=%2F..%5C')).status, 200, 'an encoded slash in the query string is not the path');
  t.same(await onSocket(fn.socket, 'POST', '/_hydra/functions/wipe', { 'x-hydra-role': 'operator' }, '{}'), { status: 403, body: { error: 'a function call must carry this node\'s secret in x-hydra-node-secret' } }, 'the socket refuses a call without the secret');
  t.equal((await onSocket(fn.socket, 'POST', '/_hydra/functions/wipe', { 'x-hydra-role': 'operator', 'x-hydra-node-secret': 'x'.repeat(43) }, '{}')).status, 403, 'and with a wrong one');
  t.equal((await onSocket(fn.socket, 'GET', '/x/..\\_hydra/functions', { 'x-hydra-node-secret': fn.secret })).status, 400, 'the socket refuses crafted paths too');
});

t.test('a service mounted under /_ is refused at start', async (t) => {
  const r = await testRedis(t);
  const svc = startService(t, fixture('underscoreMountService.ts'), redisEnv(r));
  t.match(await svc.message('start_failed'), { reason: `SpecError: mount: "/_hydra" is invalid; expected a path not starting with '/_' (paths under /_ are the runtime's own)` });
  t.same(await svc.exited, { code: 1, signal: null });
});

