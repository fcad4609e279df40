/**
 * Fuzz of the ingest endpoint: a real ingest instance (a supervised process on the real Redis)
 * takes requests carrying random and mutated frames (frameFuzzer.ts) in every body format, with
 * broken batch framing, wrong tokens and content types, junk JSON and oversize bodies. Each
 * answer must be the one the packet format promises: 202 with every frame accepted or rejected
 * by index with a reason (accepted exactly when the frame reads as a frame of the token's
 * device), or 400/401/413/415 with a reason; never a 5xx, never a hang. Afterwards the instance
 * is the same process, still healthy, every accepted frame is in packets.raw exactly once, and
 * the entries accepted before the fuzz are untouched.
 *
 * HYDRA_FUZZ_ENDPOINT_COUNT frames (1 000 in `npm test`, 100 000 in `npm run test:chaos`);
 * HYDRA_FUZZ_SEED replays a run (the seed is printed).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { writeFleet } from '../../services/packet/fleet.js';
import { FrameError, joinBatch, MAX_BATCH_FRAMES, readHeader, splitBatch } from '../../services/packet/frame.js';
import { makeFleet } from '../../services/simulator/simulator.js';
import { testRedis } from '../helpers/redis.js';
import { superviseService } from '../helpers/supervisedService.js';
import { waitFor } from '../helpers/wait.js';
import { FrameFuzzer, fuzzCount, fuzzSeed } from './frameFuzzer.js';

const INGEST = fileURLToPath(new URL('../../services/ingest/index.ts', import.meta.url));
const COUNT = fuzzCount('HYDRA_FUZZ_ENDPOINT_COUNT', 1_000);
const SEED = fuzzSeed();
const CONCURRENCY = 4;

interface Answer {
  status: number;
  body: { accepted?: number; rejected?: Array<{ index: number; reason: string }>; error?: string };
}

/** What ingest must do with one request: refuse it whole (status) or decide per frame (202). */
type Expected = { status: 400 | 401 | 413 | 415 } | { status: 202; accept: boolean[]; frames: Array<Buffer | null> };

t.test('the ingest endpoint under fuzzed requests', async (t) => {
  const redis = await testRedis(t);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hydra-fuzz-ingest-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const fleet = makeFleet({ sites: 2, unitsPerSite: 2, detonatorsPerUnit: 30, seed: SEED });
  writeFleet(path.join(dir, 'fleet.json'), fleet);
  const devices = fleet.sites.flatMap((s) => s.devices.map((d) => ({ site: s.id, device: d.id, token: d.token })));
  const ingest = await superviseService(t, {
    id: 'ingest#1',
    module: INGEST,
    env: { REDIS_URL: redis.url, HYDRA_KEY_PREFIX: redis.prefix, HYDRA_FLEET: path.join(dir, 'fleet.json') },
    logsVar: 'INGEST_TEST_LOGS',
  });
  const url = `${ingest.base()}/ingest/packets`;
  const pid = ingest.child().pid;
  const stream = `${redis.prefix}packets.raw`;
  const fuzz = new FrameFuzzer(SEED, fleet);
  t.comment(`ingest fuzz: ${COUNT} frames, seed ${SEED} (HYDRA_FUZZ_SEED=${SEED} replays it)`);

  const post = async (body: Buffer | string, headers: Record<string, string>): Promise<Answer> => {
    const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(30_000) });
    const text = await res.text();
    let parsed: Answer['body'];
    try {
      parsed = JSON.parse(text) as Answer['body'];
    } catch {
      throw new Error(`HTTP ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`);
    }
    return { status: res.status, body: parsed };
  };

  // ---- data accepted before the fuzz -----------------------------------------------------------
  const before: Buffer[] = [];
  while (before.length < 30) {
    const f = fuzz.valid().bytes;
    if (admits(f, devices[0]!)) before.push(f);
  }
  const first = await post(joinBatch(before), { 'content-type': 'application/x-hydra-batch', authorization: `Bearer ${devices[0]!.token}` });
  t.same(first, { status: 202, body: { accepted: before.length, rejected: [] } }, `${before.length} valid frames accepted before the fuzz`);
  const snapshot = (await redis.redis.xrange(stream, '-', '+')) as Array<[string, string[]]>;
  t.equal(snapshot.length, before.length, 'they are in packets.raw');
  // A group that holds them pending keeps retention from trimming them (it trims only what every
  // group acknowledged); a reader acknowledges the rest as it comes, so backpressure never starts.
  await redis.redis.xgroup('CREATE', stream, 'fuzz-check', '0');
  await redis.redis.xreadgroup('GROUP', 'fuzz-check', 'keeper', 'COUNT', before.length, 'STREAMS', stream, '>');
  const published = new Map<string, number>();
  let reading = true;
  const reader = redis.redis.duplicate();
  t.teardown(() => reader.disconnect());
  const drained = (async () => {
    while (reading) {
      const res = (await reader.xreadgroup('GROUP', 'fuzz-check', 'reader', 'COUNT', 2_000, 'BLOCK', 100, 'STREAMS', stream, '>')) as Array<[string, Array<[string, string[]]>]> | null;
      const entries = res?.[0]?.[1] ?? [];
      for (const [, fields] of entries) {
        const frame = (JSON.parse(fields[fields.indexOf('body') + 1]!) as { frame: string }).frame;
        published.set(frame, (published.get(frame) ?? 0) + 1);
      }
      if (entries.length > 0) await reader.xack(stream, 'fuzz-check', ...entries.map(([id]) => id));
    }
  })();

  // ---- the fuzz ----------------------------------------------------------------------------------
  const findings: string[] = [];
  const statuses = new Map<number, number>();
  const accepted = new Map<string, number>();
  let frames = 0;
  let requests = 0;
  let slowest = 0;

  /** Builds one request and what ingest must answer to it. */
  const nextRequest = (): { body: Buffer | string; headers: Record<string, string>; expected: Expected; what: string; frames: number } => {
    const who = fuzz.rng.pick(devices);
    const auth = { authorization: `Bearer ${who.token}` };
    const kind = fuzz.rng.pick(['batch', 'batch', 'batch', 'batch', 'batch', 'batch', 'json', 'octet', 'refused'] as const);
    // Mostly frames of the token's own device, so accepting is possible; some of others.
    const frame = () => {
      for (;;) {
        const f = fuzz.frame();
        if (fuzz.rng.chance(0.15) || (f.site === who.site && f.bytes.length >= 12 && f.bytes.readUInt32BE(8) === who.device) || f.mutation !== 'valid') return f.bytes;
      }
    };
    if (kind === 'octet') {
      const f = frame();
      if (f.length === 0) return { body: f, headers: { 'content-type': 'application/octet-stream', ...auth }, expected: { status: 400 }, what: 'empty octet-stream', frames: 1 };
      return { body: f, headers: { 'content-type': 'application/octet-stream', ...auth }, expected: perFrame([f], who), what: 'octet-stream frame', frames: 1 };
    }
    if (kind === 'json') {
      const items: unknown[] = Array.from({ length: fuzz.rng.int(1, 50) }, () => {
        const r = fuzz.rng.next();
        if (r < 0.85) return frame().toString('base64');
        if (r < 0.9) return fuzz.rng.pick([null, 7, true, ['x'], { frame: 'x' }]);
        return `${frame().toString('base64')}${fuzz.rng.pick(['!', ' ', '*', '=='])}`;
      });
      const expected: Expected = { status: 202, accept: [], frames: [] };
      for (const item of items) {
        const bytes = typeof item === 'string' && BASE64.test(item) ? Buffer.from(item, 'base64') : null;
        const decision = bytes ? admits(bytes, who) : false;
        expected.accept.push(decision);
        expected.frames.push(decision ? bytes : null);
      }
      return { body: JSON.stringify({ frames: items }), headers: { 'content-type': fuzz.rng.pick(['application/json', 'application/json; charset=utf-8']), ...auth }, expected, what: 'JSON frames', frames: items.length };
    }
    if (kind === 'refused') {
      const f = [frame(), frame()];
      const how = fuzz.rng.pick(['no-auth', 'bad-token', 'bad-scheme', 'content-type', 'no-content-type', 'bad-json', 'json-shape', 'too-many-json', 'oversize'] as const);
      const batch = joinBatch(f);
      const ct = { 'content-type': 'application/x-hydra-batch' };
      switch (how) {
        case 'no-auth':
          return { body: batch, headers: ct, expected: { status: 401 }, what: how, frames: 2 };
        case 'bad-token':
          return { body: batch, headers: { ...ct, authorization: `Bearer ${fuzz.bytes(12).toString('hex')}` }, expected: { status: 401 }, what: how, frames: 2 };
        case 'bad-scheme':
          return { body: batch, headers: { ...ct, authorization: `Basic ${who.token}` }, expected: { status: 401 }, what: how, frames: 2 };
        case 'content-type':
          return { body: batch, headers: { 'content-type': fuzz.rng.pick(['text/plain', 'application/xml', 'multipart/form-data', 'application/x-hydra-batchx']), ...auth }, expected: { status: 415 }, what: how, frames: 2 };
        case 'no-content-type':
          return { body: new Uint8Array(batch).buffer as unknown as Buffer, headers: { ...auth }, expected: { status: 415 }, what: how, frames: 2 };
        case 'bad-json':
          return { body: `{"frames": [${fuzz.bytes(20).toString('latin1')}`, headers: { 'content-type': 'application/json', ...auth }, expected: { status: 400 }, what: how, frames: 2 };
        case 'json-shape':
          return { body: JSON.stringify(fuzz.rng.pick([[], {}, { frames: [] }, { frames: 'x' }, null, 42, { frame: [] }])), headers: { 'content-type': 'application/json', ...auth }, expected: { status: 400 }, what: how, frames: 2 };
        case 'too-many-json':
          return { body: JSON.stringify({ frames: Array.from({ length: MAX_BATCH_FRAMES + 1 }, () => 'AAAA') }), headers: { 'content-type': 'application/json', ...auth }, expected: { status: 413 }, what: how, frames: 2 };
        case 'oversize':
          return { body: Buffer.concat([batch, Buffer.alloc(1_048_577)]), headers: { ...ct, ...auth }, expected: { status: 413 }, what: how, frames: 2 };
      }
    }
    const list = Array.from({ length: fuzz.rng.int(1, 50) }, frame);
    // Mostly well-framed batches, so most frames are judged one by one; the rest broken in their framing.
    const b = fuzz.rng.chance(0.75) ? { body: joinBatch(list), mutation: 'ok' } : fuzz.batch(list);
    let expected: Expected;
    try {
      expected = perFrame(splitBatch(b.body), who);
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      expected = { status: err.reason.startsWith('batch has more than') ? 413 : 400 };
    }
    return { body: b.body, headers: { 'content-type': 'application/x-hydra-batch', ...auth }, expected, what: `batch (${b.mutation})`, frames: list.length };
  };

  const check = (i: number, what: string, expected: Expected, a: Answer): void => {
    statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
    const fail = (why: string) => findings.length < 10 && findings.push(`request ${i} (${what}): ${why}; answered ${a.status} ${JSON.stringify(a.body).slice(0, 300)}`);
    if (a.status >= 500) return void fail('a server error');
    if (a.status !== expected.status) return void fail(`expected ${expected.status}`);
    if (expected.status !== 202) {
      if (typeof a.body.error !== 'string' || a.body.error === '') fail('refused without a reason');
      return;
    }
    const rejected = new Map((a.body.rejected ?? []).map((r) => [r.index, r.reason]));
    const wanted = expected.accept.filter(Boolean).length;
    if (a.body.accepted !== wanted) fail(`expected ${wanted} accepted`);
    expected.accept.forEach((ok, index) => {
      const reason = rejected.get(index);
      if (ok && reason !== undefined) fail(`frame ${index} is valid but was rejected: ${reason}`);
      if (!ok && (typeof reason !== 'string' || reason === '')) fail(`frame ${index} is invalid but got no rejection with a reason`);
    });
    if (rejected.size + (a.body.accepted ?? 0) !== expected.accept.length) fail('accepted + rejected is not the number of frames');
    expected.frames.forEach((f) => f && accepted.set(f.toString('base64'), (accepted.get(f.toString('base64')) ?? 0) + 1));
  };

  const started = Date.now();
  const worker = async () => {
    while (frames < COUNT && findings.length < 10) {
      const r = nextRequest();
      const i = requests++;
      frames += r.frames;
      const t0 = performance.now();
      let a: Answer;
      try {
        a = await post(r.body, r.headers);
      } catch (err) {
        findings.push(`request ${i} (${r.what}): no answer: ${(err as Error).message}`);
        continue;
      }
      slowest = Math.max(slowest, performance.now() - t0);
      check(i, r.what, r.expected, a);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  t.same(findings, [], `every request answered as promised, never a 5xx (seed ${SEED})`);
  t.ok(slowest < 10_000, `no request hung (slowest ${Math.round(slowest)} ms)`);
  t.comment(`${frames} frames in ${requests} requests, ${Date.now() - started} ms: ${[...statuses].map(([s, n]) => `${s} ×${n}`).join(', ')}; ${[...accepted.values()].reduce((a, b) => a + b, 0)} frames accepted`);

  // ---- afterwards ------------------------------------------------------------------------------
  const total = [...accepted.values()].reduce((a, b) => a + b, 0);
  await waitFor('the reader to see every accepted frame', () => [...published.values()].reduce((a, b) => a + b, 0) >= total, 30_000, 50).catch(() => undefined);
  reading = false;
  await drained;
  const diff = [...new Set([...accepted.keys(), ...published.keys()])].filter((f) => (accepted.get(f) ?? 0) !== (published.get(f) ?? 0));
  t.same(diff.slice(0, 3), [], `each of the ${total} accepted frames is in packets.raw exactly as often as it was accepted`);
  t.equal(ingest.child().pid, pid, 'the same ingest process answered throughout');
  t.equal(ingest.child().restarts, 0, 'and it never restarted');
  t.equal((await fetch(`${ingest.base()}/healthz`)).status, 200, 'it is healthy');
  const kept = (await redis.redis.xrange(stream, '-', '+', 'COUNT', before.length)) as Array<[string, string[]]>;
  t.same(kept, snapshot, 'the entries accepted before the fuzz are untouched');
});

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Whether ingest must accept this frame from this device: it reads as a frame, and it is that device's. */
function admits(bytes: Buffer, from: { site: number; device: number }): boolean {
  try {
    const h = readHeader(bytes);
    return h.site === from.site && h.device === from.device;
  } catch (err) {
    if (err instanceof FrameError) return false;
    throw err;
  }
}

function perFrame(frames: Buffer[], from: { site: number; device: number }): Expected {
  const accept = frames.map((f) => admits(f, from));
  return { status: 202, accept, frames: frames.map((f, i) => (accept[i] ? Buffer.from(f) : null)) };
}
