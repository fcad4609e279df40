/**
 * Error answers of a service's HTTP server are `{ "error": "<reason>" }` with the reason only,
 * never an error class name; an HttpError thrown by a service loaded from a release (its own
 * copy of the SDK, so another class than the runtime's) keeps its status. Also `GET
 * /_hydra/openapi.json`: the document beside the module, with the instance's own paths.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { createLogger } from '../../core/log.js';
import { createFunctionsServer, listenOnSocket } from '../../runtime/functionsListener.js';
import { closeServer, createServiceHttp, listen } from '../../runtime/serviceHttp.js';
import { defineService, HttpError, type ServiceContext, type ServiceManifest } from '../../runtime/sdk.js';

/** What a release's copy of the SDK's HttpError is: same name and shape, another class. */
class ReleaseHttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

class StoreFailure extends Error {
  override readonly name = 'StoreFailure';
}

const manifest = defineService({
  name: 'things',
  version: '1.0.0',
  http: [
    { method: 'GET', path: '/mine/:id', auth: 'public', handler: (req) => { throw new HttpError(404, `no thing ${req.params.id}`); } },
    { method: 'GET', path: '/release/:id', auth: 'public', handler: (req) => { throw new ReleaseHttpError(404, `no report ${req.params.id}`); } },
    { method: 'GET', path: '/crash', auth: 'public', handler: () => { throw new StoreFailure('the store is gone'); } },
    { method: 'GET', path: '/odd', auth: 'public', handler: () => { throw new ReleaseHttpError(42, 'not a status'); } },
    { method: 'POST', path: '/json', auth: 'public', handler: (req) => ({ body: req.json() }) },
  ],
  functions: { fails: () => { throw new StoreFailure('function failed'); } },
});

async function serve(t: Test, m: ServiceManifest, moduleFile?: string): Promise<string> {
  const ctx: ServiceContext = { service: m.name, version: m.version, instance: `${m.name}#1`, log: createLogger({ component: 'test' }, { write: () => undefined }), counters: {}, emit: async () => undefined, deadLetter: () => undefined };
  const server: Server = createServiceHttp({ manifest: m, ctx, log: ctx.log, health: () => ({ healthy: true }), onRequest: () => undefined, ...(moduleFile ? { moduleFile } : {}) });
  const port = await listen(server, 0);
  t.teardown(() => closeServer(server, 100));
  return `http://127.0.0.1:${port}`;
}

/** A call on the functions listener (a Unix socket, with the secret), as the node makes it. */
async function functionAnswer(t: Test, m: ServiceManifest, name: string): Promise<{ status: number; type: string | undefined; body: Record<string, unknown> }> {
  const ctx: ServiceContext = { service: m.name, version: m.version, instance: `${m.name}#1`, log: createLogger({ component: 'test' }, { write: () => undefined }), counters: {}, emit: async () => undefined, deadLetter: () => undefined };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hydra-fn-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socket = path.join(dir, 'f.sock');
  const server = createFunctionsServer({ manifest: m, ctx, state: undefined, log: ctx.log, secret: 'z'.repeat(40) });
  await listenOnSocket(server, socket);
  t.teardown(() => closeServer(server, 100));
  return new Promise((resolve, reject) => {
    const req = httpRequest({ socketPath: socket, method: 'POST', path: `/_hydra/functions/${name}`, headers: { 'x-hydra-node-secret': 'z'.repeat(40) } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function answer(url: string, init?: RequestInit) {
  const res = await fetch(url, init);
  return { status: res.status, type: res.headers.get('content-type'), body: (await res.json()) as Record<string, unknown> };
}

t.test('error bodies carry the reason only, never a class name', async (t) => {
  const base = await serve(t, manifest);
  t.same(await answer(`${base}/things/mine/7`), { status: 404, type: 'application/json', body: { error: 'no thing 7' } });
  t.same(await answer(`${base}/things/release/999`), { status: 404, type: 'application/json', body: { error: 'no report 999' } }, "a release's HttpError keeps its status");
  t.same(await answer(`${base}/things/crash`), { status: 500, type: 'application/json', body: { error: 'the store is gone' } });
  t.same(await answer(`${base}/things/odd`), { status: 500, type: 'application/json', body: { error: 'not a status' } }, 'an HttpError with an impossible status is a 500');
  t.match(await answer(`${base}/things/json`, { method: 'POST', body: '{nope' }), { status: 400, body: { error: /^request body is not valid JSON/ } });
  t.same(await answer(`${base}/_hydra/functions/fails`, { method: 'POST' }), { status: 404, type: 'application/json', body: { error: 'no route POST /_hydra/functions/fails; this service serves under /things/' } }, 'functions are not on the public port');
  t.same(await functionAnswer(t, manifest, 'fails'), { status: 500, type: 'application/json', body: { error: 'function failed' } }, 'a failing function on its own listener: the reason only');
  t.match(await answer(`${base}/things/mine/%E0%A4%A`), { status: 400, body: { error: /^path segment/ } });
  for (const path of ['/things/mine/7', '/things/release/999', '/things/crash', '/_hydra/functions/fails', '/elsewhere', '/things/nothing']) {
    const { body } = await answer(`${base}${path}`);
    t.notMatch(String(body.error), /\b(HttpError|StoreFailure|Error|TypeError):/, `${path}: no class name`);
    t.same(Object.keys(body), ['error'], `${path}: one shape`);
  }
});

t.test('GET /_hydra/openapi.json serves the document beside the module, with the instance\'s own paths', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hydra-openapi-'));
  mkdirSync(path.join(dir, 'things'));
  const doc = {
    openapi: '3.1.0',
    info: { title: 't', version: '1' },
    paths: { '/things/mine/{id}': {}, '/others/x': {}, '/healthz': {}, '/_hydra/functions': {} },
  };
  writeFileSync(path.join(dir, 'openapi.json'), JSON.stringify(doc));
  const base = await serve(t, manifest, path.join(dir, 'things', 'index.js'));
  const got = await answer(`${base}/_hydra/openapi.json`);
  t.equal(got.status, 200);
  t.same(Object.keys(got.body.paths as object), ['/things/mine/{id}', '/healthz', '/_hydra/functions'], 'the parent folder\'s document, filtered to the mount');
  t.match(await answer(`${base}/_hydra/openapi.json`, { method: 'POST' }), { status: 405, body: { error: /GET/ } });
  const none = await serve(t, manifest);
  t.match(await answer(`${none}/_hydra/openapi.json`), { status: 404, body: { error: 'service things ships no OpenAPI document' } });
});
