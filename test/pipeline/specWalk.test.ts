/**
 * The spec walk: a real node runs the reference pipeline (daemon, ingest, parse, state, report
 * as processes; real Redis and PostgreSQL), and every operation of services/openapi.json and
 * node/openapi.json is called with a valid request and, where it takes input (parameters, a
 * body, a credential), an invalid one. Every answer must be one the document describes: a
 * documented status, a documented content type, a JSON body that validates against the
 * operation's schema (ajv, JSON Schema 2020-12). Valid requests must succeed (< 400, except
 * calling a function of a service that declares none), invalid ones must be refused with a
 * 4xx. The walk fails if any operation of either document went uncalled.
 */
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import type { ItemRecord } from '../../services/messages.js';
import { writeFleet } from '../../services/packet/fleet.js';
import { encodeFrame, joinBatch } from '../../services/packet/frame.js';
import { makeFleet } from '../../services/simulator/simulator.js';
import { waitFor } from '../helpers/wait.js';
import { OpenApiSpec, type Answer } from './openApiSpec.js';
import { pipelineNode } from './pipelineNode.js';

const services = new OpenApiSpec(fileURLToPath(new URL('../../services/openapi.json', import.meta.url)));
const admin = new OpenApiSpec(fileURLToPath(new URL('../../node/openapi.json', import.meta.url)));

type Kind = 'valid' | 'invalid';

/** Calls and what they covered, per document and operation. */
class Walk {
  readonly covered = new Map<string, Set<Kind>>();

  constructor(private readonly t: Test) {}

  /** Checks `answer` as an answer of `op` in `spec` to a `kind` request; returns it for further checks. */
  judge(spec: OpenApiSpec, op: string, kind: Kind, what: string, answer: Answer, expect?: number): Answer {
    const problems = spec.check(op, answer);
    this.t.same(problems, [], `${op} (${kind}: ${what}) answered ${answer.status}, as documented`);
    if (expect !== undefined) this.t.equal(answer.status, expect, `${op} (${kind}: ${what}): ${expect}`);
    else if (kind === 'valid') this.t.ok(answer.status < 400, `${op} (${what}) succeeds: ${answer.status} ${answer.body.toString('utf8').slice(0, 300)}`);
    else this.t.ok(answer.status >= 400 && answer.status < 500, `${op} (${what}) is refused with a 4xx: ${answer.status}`);
    const key = `${spec === admin ? 'admin' : 'services'} ${op}`;
    (this.covered.get(key) ?? this.covered.set(key, new Set()).get(key)!).add(kind);
    return answer;
  }
}

async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, init);
  return { status: res.status, contentType: res.headers.get('content-type'), body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

const json = (a: Answer) => JSON.parse(a.body.toString('utf8')) as Record<string, unknown>;

/** The SSE stream's answer up to its first event, then closed. */
async function firstEvent(url: string, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(url, { headers });
  if (res.status !== 200) return { status: res.status, contentType: res.headers.get('content-type'), body: Buffer.from(await res.arrayBuffer()) };
  const reader = res.body!.getReader();
  let text = '';
  while (!/\n\nevent: \w+\ndata: .*\n\n/s.test(`\n\n${text}`)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  await reader.cancel();
  return { status: res.status, contentType: res.headers.get('content-type'), body: Buffer.from(text) };
}

/** The upgrade's status, and the first message after a bind. */
async function upgrade(url: string, bind: Record<string, unknown>, headers: Record<string, string>): Promise<{ answer: Answer; first: Record<string, unknown> }> {
  const socket = new WebSocket(url, { headers });
  let status = 0;
  socket.once('upgrade', (res) => (status = res.statusCode ?? 0));
  const first = new Promise<Record<string, unknown>>((resolve, reject) => {
    socket.once('message', (data) => resolve(JSON.parse(data.toString()) as Record<string, unknown>));
    socket.once('error', reject);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  socket.send(JSON.stringify(bind));
  const message = await first;
  socket.close();
  return { answer: { status, contentType: null, body: Buffer.alloc(0) }, first: message };
}

/** The status and body of an upgrade the server refuses (it never becomes a WebSocket). */
async function refusedUpgrade(url: string, headers: Record<string, string>): Promise<Answer> {
  const socket = new WebSocket(url, { headers });
  return new Promise<Answer>((resolve, reject) => {
    socket.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'] ?? null, body: Buffer.concat(chunks) }));
    });
    socket.once('open', () => {
      socket.close();
      reject(new Error(`${url} opened without a token`));
    });
    socket.once('error', () => undefined);
  });
}

t.test('every operation of the documents, on a running node, answers as documented', { timeout: 240_000 }, async (t) => {
  const node = await pipelineNode(t);
  const fleet = makeFleet({ sites: 1, unitsPerSite: 2, detonatorsPerUnit: 4, seed: 3 });
  writeFleet(path.join(node.home, 'fleet.json'), fleet);
  await node.start();
  const site = fleet.sites[0]!;
  const unit = site.devices[0]!;
  const walk = new Walk(t);
  const viewer = node.auth;
  const get = (url: string) => call(url, { headers: viewer });
  const [ingest, state, report, parse] = (await Promise.all(['ingest', 'state', 'report', 'parse'].map((s) => node.url(s)))) as [string, string, string, string];

  // ---- ingest: a whole blast (arm, fire, complete), so state and report have something to serve
  const records = (status: ItemRecord['status']): ItemRecord[] => unit.detonators!.map((item, i) => ({ item, status, faultCode: 0, voltage: 24.1, resistance: 2.5, delayMs: 25 * i }));
  const frame = (seq: number, type: 'arm' | 'fire' | 'complete', status: ItemRecord['status']) => encodeFrame({ type, site: site.id, device: unit.id, seq, deviceTs: 1_700_000_000_000 + seq, blastId: 7, items: records(status) }, site.key);
  const auth = { authorization: `Bearer ${unit.token}` };
  const POST = 'POST /ingest/packets';
  walk.judge(services, POST, 'valid', 'one frame', await call(`${ingest}/ingest/packets`, { method: 'POST', headers: { ...auth, 'content-type': 'application/octet-stream' }, body: frame(1, 'arm', 'armed') }), 202);
  const batch = await call(`${ingest}/ingest/packets`, { method: 'POST', headers: { ...auth, 'content-type': 'application/x-hydra-batch' }, body: joinBatch([frame(2, 'fire', 'armed'), Buffer.from('HDnope')]) });
  walk.judge(services, POST, 'valid', 'a batch with one bad frame', batch, 202);
  t.match(json(batch), { accepted: 1, rejected: [{ index: 1, reason: 'truncated' }] });
  walk.judge(services, POST, 'valid', 'JSON frames', await call(`${ingest}/ingest/packets`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ frames: [frame(3, 'complete', 'fired').toString('base64')] }) }), 202);
  walk.judge(services, POST, 'invalid', 'no token', await call(`${ingest}/ingest/packets`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: frame(4, 'arm', 'armed') }), 401);
  walk.judge(services, POST, 'invalid', 'unknown token', await call(`${ingest}/ingest/packets`, { method: 'POST', headers: { authorization: 'Bearer nope', 'content-type': 'application/octet-stream' }, body: frame(4, 'arm', 'armed') }), 401);
  walk.judge(services, POST, 'invalid', 'text/plain', await call(`${ingest}/ingest/packets`, { method: 'POST', headers: { ...auth, 'content-type': 'text/plain' }, body: 'x' }), 415);
  walk.judge(services, POST, 'invalid', 'bad JSON', await call(`${ingest}/ingest/packets`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"frames":' }), 400);
  walk.judge(services, POST, 'invalid', 'over 1 MiB', await call(`${ingest}/ingest/packets`, { method: 'POST', headers: { ...auth, 'content-type': 'application/octet-stream' }, body: Buffer.alloc(1024 * 1024 + 1) }), 413);

  // ---- state
  await waitFor('the blast applied to the state', async () => (json(await get(`${state}/state/items?site=${site.id}&device=${unit.id}&status=fired`)).count as number) === unit.detonators!.length, 30_000, 100);
  const siteView = walk.judge(services, 'GET /state/sites/{site}', 'valid', 'a site', await get(`${state}/state/sites/${site.id}`), 200);
  t.equal(json(siteView).count, unit.detonators!.length);
  t.match(json(siteView), { devices: [{ items: [{ voltage: 24.1, resistance: 2.5 }] }] }, 'volts and ohms, not centivolts and milliohms');
  walk.judge(services, 'GET /state/sites/{site}', 'invalid', 'not an id', await get(`${state}/state/sites/north`), 400);
  walk.judge(services, 'GET /state/items', 'valid', 'a selector', await get(`${state}/state/items?site=${site.id}&device=${unit.id}&item=${unit.detonators![0]}&status=fired`), 200);
  walk.judge(services, 'GET /state/items', 'valid', 'no selector', await get(`${state}/state/items`), 200);
  walk.judge(services, 'GET /state/items', 'invalid', 'a typo', await get(`${state}/state/items?devcie=1`), 400);
  walk.judge(services, 'GET /state/items', 'invalid', 'a bad status', await get(`${state}/state/items?status=boom`), 400);
  const sse = walk.judge(services, 'GET /state/stream', 'valid', 'a device and a field', await firstEvent(`${state}/state/stream?site=${site.id}&device=${unit.id}&field=status`, viewer), 200);
  const snapshot = /event: snapshot\ndata: (.*)\n\n/.exec(sse.body.toString('utf8'));
  t.ok(snapshot, 'the first event is the snapshot');
  const snapItems = (JSON.parse(snapshot![1]!) as { items: unknown[] }).items;
  t.equal(snapItems.length, unit.detonators!.length);
  for (const item of snapItems) t.same(services.validate('/components/schemas/ItemState', item), [], 'snapshot items are ItemState');
  walk.judge(services, 'GET /state/stream', 'invalid', 'a bad field', await firstEvent(`${state}/state/stream?field=colour`, viewer), 400);
  const ws = await upgrade(`${state.replace('http', 'ws')}/state/ws`, { op: 'bind', id: 'walk', site: site.id, device: unit.id }, viewer);
  walk.judge(services, 'GET /state/ws', 'valid', 'a WebSocket upgrade', ws.answer, 101);
  t.match(ws.first, { type: 'snapshot', id: 'walk' });
  for (const item of ws.first.items as unknown[]) t.same(services.validate('/components/schemas/ItemState', item), [], 'WebSocket snapshot items are ItemState');
  walk.judge(services, 'GET /state/ws', 'invalid', 'no token', await refusedUpgrade(`${state.replace('http', 'ws')}/state/ws`, {}), 401);
  walk.judge(services, 'GET /state/sites/{site}', 'invalid', 'no token', await call(`${state}/state/sites/${site.id}`), 401);
  walk.judge(services, 'GET /state/items', 'invalid', 'no token', await call(`${state}/state/items`), 401);
  walk.judge(services, 'GET /state/stream', 'invalid', 'no token', await firstEvent(`${state}/state/stream`), 401);
  walk.judge(services, 'GET /state/items', 'invalid', 'not an API token', await call(`${state}/state/items`, { headers: { authorization: 'Bearer nope' } }), 401);
  walk.judge(services, 'GET /state/ws', 'invalid', 'no upgrade', await get(`${state}/state/ws`), 404);

  // ---- report
  const list = await waitFor('the report', async () => {
    const a = await get(`${report}/reports?site=${site.id}`);
    return (json(a).count as number) > 0 ? a : null;
  }, 30_000, 200);
  walk.judge(services, 'GET /reports', 'valid', 'by site', list, 200);
  walk.judge(services, 'GET /reports', 'valid', 'every filter', await get(`${report}/reports?site=${site.id}&device=${unit.id}&outcome=complete&limit=5`), 200);
  walk.judge(services, 'GET /reports', 'invalid', 'a bad outcome', await get(`${report}/reports?outcome=boom`), 400);
  walk.judge(services, 'GET /reports', 'invalid', 'no token', await call(`${report}/reports`), 401);
  walk.judge(services, 'GET /reports', 'invalid', 'a typo', await get(`${report}/reports?sit=1`), 400);
  const id = ((json(list).reports as Array<{ id: number }>)[0]!).id;
  const whole = walk.judge(services, 'GET /reports/{file}', 'valid', 'JSON', await get(`${report}/reports/${id}`), 200);
  t.match(json(whole), { outcome: 'complete', summary: { expected: unit.detonators!.length, fired: unit.detonators!.length, detonators: [{ voltage: 24.1 }] } });
  walk.judge(services, 'GET /reports/{file}', 'valid', '.json', await get(`${report}/reports/${id}.json`), 200);
  walk.judge(services, 'GET /reports/{file}', 'valid', '.html', await get(`${report}/reports/${id}.html`), 200);
  walk.judge(services, 'GET /reports/{file}', 'valid', '.pdf', await get(`${report}/reports/${id}.pdf`), 200);
  walk.judge(services, 'GET /reports/{file}', 'invalid', 'no token', await call(`${report}/reports/${id}.pdf`), 401);
  walk.judge(services, 'GET /reports/{file}', 'invalid', 'not an id', await get(`${report}/reports/twelve`), 400);
  const missing = walk.judge(services, 'GET /reports/{file}', 'invalid', 'unknown id', await get(`${report}/reports/999999`), 404);
  t.same(json(missing), { error: 'no report 999999' }, 'the reason, without a class name');
  walk.judge(services, 'GET /reports/{file}', 'invalid', 'unknown format', await get(`${report}/reports/${id}.xml`), 404);

  // ---- the runtime of every instance
  for (const [name, base] of [['ingest', ingest], ['state', state], ['report', report], ['parse', parse]] as const) {
    walk.judge(services, 'GET /healthz', 'valid', name, await call(`${base}/healthz`), 200);
    // Functions are served on the instance's private socket only (docs/api.md), never on this port.
    t.equal((await call(`${base}/_hydra/functions`)).status, 404, `${name}: no functions on the public port`);
    const doc = walk.judge(services, 'GET /_hydra/openapi.json', 'valid', name, await call(`${base}/_hydra/openapi.json`), 200);
    const own = Object.keys(json(doc).paths as object);
    const mount = name === 'report' ? '/reports' : `/${name}`;
    t.same(own, Object.keys(services.doc.paths as object).filter((p) => p.startsWith(`${mount}/`) || p === mount || p === '/healthz' || p.startsWith('/_hydra/')), `${name} serves its own paths`);
  }

  // ---- the node's admin API (stop last)
  const base = node.admin();
  walk.judge(admin, 'GET /healthz', 'valid', 'the node', await call(`${base}/healthz`), 200);
  walk.judge(admin, 'GET /admin/tree', 'valid', 'the tree', await call(`${base}/admin/tree`), 200);
  walk.judge(admin, 'GET /metrics', 'valid', 'metrics', await call(`${base}/metrics`), 200);
  const parseChild = 'services/parse%231';
  walk.judge(admin, 'POST /admin/restart/{path}', 'valid', 'parse', await call(`${base}/admin/restart/${parseChild}`, { method: 'POST' }), 200);
  walk.judge(admin, 'POST /admin/restart/{path}', 'valid', 'parse, path as %2F', await call(`${base}/admin/restart/services%2Fparse%231`, { method: 'POST' }), 200);
  const unknown = walk.judge(admin, 'POST /admin/restart/{path}', 'invalid', 'no such child', await call(`${base}/admin/restart/services/nope`, { method: 'POST' }), 404);
  t.match(json(unknown), { error: /^no child 'services\/nope'/, reason: 'not_found' });
  walk.judge(admin, 'POST /admin/restart/{path}', 'invalid', 'bad percent-encoding', await call(`${base}/admin/restart/%E0%A4%A`, { method: 'POST' }), 400);
  const stopped = walk.judge(admin, 'POST /admin/terminate/{path}', 'valid', 'parse', await call(`${base}/admin/terminate/${parseChild}`, { method: 'POST' }), 200);
  t.match(json(stopped), { child: { state: 'stopped' } });
  walk.judge(admin, 'POST /admin/terminate/{path}', 'invalid', 'no such child', await call(`${base}/admin/terminate/services/nope`, { method: 'POST' }), 404);
  walk.judge(admin, 'POST /admin/start/{path}', 'valid', 'parse', await call(`${base}/admin/start/${parseChild}`, { method: 'POST' }), 200);
  const running = walk.judge(admin, 'POST /admin/start/{path}', 'invalid', 'parse while it runs', await call(`${base}/admin/start/${parseChild}`, { method: 'POST' }), 409);
  t.match(json(running), { reason: 'running' });
  walk.judge(admin, 'POST /admin/start/{path}', 'invalid', 'no such child', await call(`${base}/admin/start/services/nope`, { method: 'POST' }), 404);
  walk.judge(admin, 'POST /admin/stop', 'valid', 'stop', await call(`${base}/admin/stop`, { method: 'POST' }), 202);

  // ---- nothing left uncalled
  for (const [name, spec] of [['services', services], ['admin', admin]] as const) {
    for (const op of spec.operations()) {
      const seen = walk.covered.get(`${name} ${op.key}`) ?? new Set<Kind>();
      t.ok(seen.has('valid'), `${name} ${op.key} was called with a valid request`);
      if (op.takesInput) t.ok(seen.has('invalid'), `${name} ${op.key} was called with an invalid request`);
    }
  }
  t.equal(walk.covered.size, services.operations().length + admin.operations().length, 'every call was to an operation of a document');
});
