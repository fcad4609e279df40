/**
 * Instance state (runtime/serviceTypes.ts): what a service's init returns reaches handle, its
 * routes, functions, WebSocket connections, health and stop, as one object, in a real service
 * process over the real Redis; a service written without state works as before. The type
 * checks at the end fail `npm run lint` if the state stops being inferred from init.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { WebSocket } from 'ws';
import { Channel, createRedisTransport, decodeEntry, type EntryFields } from '../../channels/index.js';
import { defineService, type HttpRoute } from '../../runtime/sdk.js';
import type { ChildMessage } from '../../supervisor/ipc.js';
import { testRedis, type TestRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const MAIN = fileURLToPath(new URL('../../runtime/serviceMain.ts', import.meta.url));
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

interface Running {
  base: string;
  /** The instance's functions socket and the secret it wants (as the node's ServicesHost gives them). */
  functions: { socket: string; secret: string };
  messages: ChildMessage[];
  child: ChildProcess;
  exited: Promise<number | null>;
}

/** The service module as one instance (`svc#1`) under the real runtime, ready. */
async function run(t: Test, module: string, r: TestRedis, env: Record<string, string> = {}): Promise<Running> {
  const dir = mkdtempSync(path.join(tmpdir(), 'hydra-fn-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const functions = { socket: path.join(dir, 'svc.sock'), secret: 'k'.repeat(43) };
  const child = fork(MAIN, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, HYDRA_SERVICE_MODULE: module, HYDRA_CHILD_ID: 'svc#1', HYDRA_HEARTBEAT_MS: '100', REDIS_URL: r.url, HYDRA_KEY_PREFIX: r.prefix, HYDRA_FUNCTIONS_SOCKET: functions.socket, HYDRA_FUNCTIONS_SECRET: functions.secret, ...env },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const messages: ChildMessage[] = [];
  child.on('message', (m: ChildMessage) => messages.push(m));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const ready = await waitFor('ready', () => messages.find((m): m is Extract<ChildMessage, { t: 'ready' }> => m.t === 'ready') ?? (child.exitCode !== null ? Promise.reject(new Error(`exited ${child.exitCode}`)) : undefined), 30_000);
  return { base: `http://127.0.0.1:${ready.port}`, functions, messages, child, exited };
}

function channels(t: Test, r: TestRedis) {
  const transport = createRedisTransport({ url: r.url, keyPrefix: r.prefix });
  t.teardown(() => transport.close());
  const a = new Channel(transport, 'a');
  const outputs = async () =>
    ((await r.redis.xrange(`${r.prefix}b`, '-', '+')) as Array<[string, string[]]>).map(([id, flat]) => {
      const fields: EntryFields = {};
      for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
      return decodeEntry(id, fields).body;
    });
  const publish = (ns: number[]) => a.publishMany(ns.map((n) => ({ type: 'num', v: 1, key: 'k', body: { n } })));
  return { a, outputs, publish };
}

const getJson = async (url: string, init?: RequestInit) => {
  const res = await fetch(url, init);
  return { status: res.status, body: (await res.json()) as unknown };
};

/** A call on the instance's functions socket, with the node secret (functions are not on its HTTP port). */
const callFunction = (svc: Running, name: string, args: Record<string, unknown> = {}) =>
  new Promise<{ status: number; body: unknown }>((resolve, reject) => {
    const body = JSON.stringify({ args });
    const req = httpRequest({ socketPath: svc.functions.socket, method: 'POST', path: `/_hydra/functions/${name}`, headers: { 'x-hydra-node-secret': svc.functions.secret, 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown }));
    });
    req.on('error', reject);
    req.end(body);
  });

const wsFirstMessage = (url: string) =>
  new Promise<unknown>((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('message', (data) => {
      resolve(JSON.parse(String(data)));
      ws.close();
    });
    ws.once('error', reject);
  });

t.test("init's state reaches handle, routes, functions, the WebSocket, health and stop: one object per instance", async (t) => {
  const r = await testRedis(t);
  const { outputs, publish } = channels(t, r);
  const dir = mkdtempSync(path.join(tmpdir(), 'hydra-state-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const stopFile = path.join(dir, 'stopped.json');
  const svc = await run(t, fixture('statefulService.ts'), r, { STATEFUL_STOP_FILE: stopFile });
  const token = 'made by init of svc#1';

  await publish([1, 2, 3]);
  const out = await waitFor('three outputs', async () => ((await outputs()).length === 3 ? outputs() : undefined));
  t.same(out, [1, 2, 3].map((n) => ({ n, token })), 'handle got the state init returned');

  // handle's changes are seen by the route, which changes it in turn: the same object.
  t.same(await getJson(`${svc.base}/stateful/held`), { status: 200, body: { token, handled: 3, requests: 1 } }, 'a route gets it');
  t.same(await callFunction(svc, 'held'), { status: 200, body: { result: { token, handled: 3, requests: 1 } } }, 'a plain function gets it');
  t.same(await callFunction(svc, 'add', { requests: 10 }), { status: 200, body: { result: 11 } }, 'a typed function gets it');
  t.same(await wsFirstMessage(`${svc.base.replace('http', 'ws')}/stateful/ws`), { token, handled: 3, requests: 11 }, 'a WebSocket connection gets it');
  t.same(await getJson(`${svc.base}/healthz`), { status: 200, body: { healthy: true, detail: `${token}: 3 handled`, service: 'stateful', version: '1.0.0', instance: 'svc#1' } }, 'health gets it');

  svc.child.kill('SIGTERM');
  t.equal(await svc.exited, 0);
  t.same(JSON.parse(readFileSync(stopFile, 'utf8')), { token, handled: 3, requests: 11 }, 'stop gets it');
});

t.test('a service without state works as before: its hooks get undefined and ignore it', async (t) => {
  const r = await testRedis(t);
  const { outputs, publish } = channels(t, r);
  const svc = await run(t, fixture('statelessService.ts'), r);
  await publish([7, 8]);
  t.same(await waitFor('two outputs', async () => ((await outputs()).length === 2 ? outputs() : undefined)), [{ n: 7 }, { n: 8 }], 'handle works');
  t.same(await getJson(`${svc.base}/stateless`), { status: 200, body: { service: 'stateless' } }, 'a route written without the state argument works');
  t.same(await getJson(`${svc.base}/stateless/state`), { status: 200, body: { state: 'undefined' } });
  t.same(await callFunction(svc, 'state'), { status: 200, body: { result: 'undefined' } });
  t.match(await getJson(`${svc.base}/healthz`), { status: 200, body: { healthy: true, detail: 'no state' } });
  svc.child.kill('SIGTERM');
  t.equal(await svc.exited, 0);
});

t.test('types: the state is inferred from init only, and a hook cannot use what init did not return', async (t) => {
  const routes: HttpRoute<{ pool: string }>[] = [{ method: 'GET', path: '/', auth: 'public', handler: (_req, _ctx, { pool }) => ({ body: pool }) }];
  const m = defineService({
    name: 'typed',
    version: '1.0.0',
    consumes: { a: ['num@1'] },
    init: () => ({ pool: 'p', count: 0 }),
    handle(_batch, _ctx, state) {
      state.count++;
      // @ts-expect-error: init did not return `nope`
      void state.nope;
    },
    // A route typed for part of the state fits, and does not narrow what handle sees.
    http: routes,
  });
  t.equal(m.name, 'typed');
  defineService({
    name: 'typed',
    version: '1.0.0',
    init: () => ({ count: 0 }),
    // @ts-expect-error: the routes need a pool the state does not have
    http: routes,
  });
});
