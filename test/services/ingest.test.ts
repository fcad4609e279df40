/**
 * The ingest service as a real process (Supervisor + serviceChildSpec) over the real Redis, with
 * a fleet file in a temp dir: each body format is accepted; each bad request is refused with its
 * status and reason and counted; bad frames are rejected by index while the good ones of the same
 * request are accepted; every accepted frame is in packets.raw exactly once, in order; a 202 is
 * never given when publishing fails (Redis unreachable, packets.raw over its high-water mark).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { decodeEntry, type EntryFields } from '../../channels/index.js';
import type { Fleet, PacketRawV1 } from '../../services/messages.js';
import { writeFleet } from '../../services/packet/fleet.js';
import { encodeFrame, joinBatch } from '../../services/packet/frame.js';
import { serviceChildSpec } from '../../runtime/serviceChild.js';
import { Supervisor } from '../../supervisor/supervisor.js';
import { testRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const INGEST = fileURLToPath(new URL('../../services/ingest/index.ts', import.meta.url));
const KEY1 = '1a'.repeat(32);
const TOKEN = 'token-1001-secret';
const FLEET: Fleet = {
  sites: [
    { id: 1, key: KEY1, devices: [{ id: 1001, token: TOKEN }, { id: 1002, token: 'token-1002-secret' }] },
    { id: 2, key: '2b'.repeat(32), devices: [{ id: 2001, token: 'token-2001-secret' }] },
  ],
};

/** Every frame of the file gets a sequence of its own, so each test can find exactly its frames. */
let nextSeq = 1;
function frame(opts: { site?: number; device?: number } = {}): Buffer {
  const seq = nextSeq++;
  const items = [{ item: 1, status: 'connected' as const, faultCode: 0, voltage: 24.1, resistance: 2.5, delayMs: 0 }];
  return encodeFrame({ type: 'status', site: opts.site ?? 1, device: opts.device ?? 1001, seq, deviceTs: 1_700_000_000_000 + seq, blastId: 0, items }, KEY1);
}
const seqOf = (f: Buffer) => f.readUInt32BE(12);

const auth = (token = TOKEN) => ({ authorization: `Bearer ${token}` });
type Ingest = Awaited<ReturnType<typeof startIngest>>;
type RawEntry = { id: string; key?: string; type: string; v: number; body: PacketRawV1 };

async function startIngest(t: Test, env: Record<string, string> = {}, shutdown = 5_000) {
  const redis = await testRedis(t);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hydra-ingest-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const fleetFile = path.join(dir, 'fleet.json');
  writeFleet(fleetFile, FLEET);
  const spec = serviceChildSpec({
    id: 'ingest#1',
    module: INGEST,
    env: { REDIS_URL: redis.url, HYDRA_KEY_PREFIX: redis.prefix, HYDRA_FLEET: fleetFile, HYDRA_HEARTBEAT_MS: '100', ...env },
    port: 0,
    shutdown,
    startTimeoutMs: 30_000,
    // INGEST_TEST_LOGS=1 shows the instance's log lines.
    ...(process.env.INGEST_TEST_LOGS ? {} : { output: () => undefined }),
  });
  const sup = new Supervisor({ id: 'services', strategy: 'one_for_one', intensity: 5, periodMs: 10_000, children: [spec] });
  await sup.start();
  t.teardown(() => sup.stop());
  const child = () => sup.whichChildren()[0]!;
  return {
    redis,
    fleetFile,
    child,
    async post(body: Buffer | string, headers: Record<string, string> = { 'content-type': 'application/octet-stream', ...auth() }) {
      const res = await fetch(`http://127.0.0.1:${child().port}/ingest/packets`, { method: 'POST', headers, body });
      return { status: res.status, headers: res.headers, body: JSON.parse(await res.text()) as Record<string, unknown> };
    },
    /** packets.raw as stored (XRANGE), decoded. */
    async raw(): Promise<RawEntry[]> {
      const rows = (await redis.redis.xrange(`${redis.prefix}packets.raw`, '-', '+')) as Array<[string, string[]]>;
      return rows.map(([id, flat]) => {
        const fields: EntryFields = {};
        for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
        return decodeEntry(id, fields) as RawEntry;
      });
    },
    counters: (until: (c: Record<string, number>) => boolean) =>
      waitFor('ingest counters', () => {
        const c = child().status?.counters;
        return c && until(c) ? c : null;
      }),
  };
}

const batchHeaders = { 'content-type': 'application/x-hydra-batch', ...auth() };
const jsonHeaders = { 'content-type': 'application/json', ...auth() };

/** The frames of `sent` in packets.raw: each exactly once, in the order sent. */
async function assertPublishedOnce(t: Test, ingest: Ingest, sent: Buffer[]): Promise<void> {
  const wanted = new Set(sent.map(seqOf));
  const mine = (await ingest.raw()).filter((e) => e.key === '1:1001' && wanted.has(e.body.seq));
  t.same(mine.map((e) => e.body.seq), sent.map(seqOf), 'each accepted frame is in packets.raw exactly once, in order');
  t.same(
    mine.map((e) => ({ type: e.type, v: e.v, frame: e.body.frame, site: e.body.site, device: e.body.device, receivedAt: typeof e.body.receivedAt })),
    sent.map((f) => ({ type: 'packet.raw', v: 1, frame: f.toString('base64'), site: 1, device: 1001, receivedAt: 'number' })),
    'packet.raw@1 carries the whole frame, base64, and its header fields',
  );
}

t.test('ingest over the real Redis', async (t) => {
  const ingest = await startIngest(t);

  t.test('one frame (application/octet-stream) is accepted and published', async (t) => {
    const f = frame();
    const res = await ingest.post(f);
    t.equal(res.status, 202);
    t.same(res.body, { accepted: 1, rejected: [] });
    await assertPublishedOnce(t, ingest, [f]);
  });

  t.test('a length-prefixed batch is accepted and published in order', async (t) => {
    const frames = [frame(), frame(), frame()];
    const res = await ingest.post(joinBatch(frames), batchHeaders);
    t.equal(res.status, 202);
    t.same(res.body, { accepted: 3, rejected: [] });
    await assertPublishedOnce(t, ingest, frames);
  });

  t.test('JSON { frames: [base64…] } is accepted (charset parameter and all)', async (t) => {
    const frames = [frame(), frame()];
    const res = await ingest.post(JSON.stringify({ frames: frames.map((f) => f.toString('base64')) }), { 'content-type': 'application/json; charset=utf-8', ...auth() });
    t.equal(res.status, 202);
    t.same(res.body, { accepted: 2, rejected: [] });
    await assertPublishedOnce(t, ingest, frames);
  });

  t.test('bad frames are rejected by index; the good ones of the same request are accepted', async (t) => {
    const good1 = frame();
    const good2 = frame();
    const wrongVersion = Buffer.from(frame());
    wrongVersion.writeUInt8(2, 2);
    const truncated = frame().subarray(0, 30);
    const shortByOne = frame().subarray(0, 60);
    const otherDevice = frame({ device: 1002 });
    const otherSite = frame({ site: 2, device: 2001 });
    const tooLarge = Buffer.concat([frame(), Buffer.alloc(17_000)]);
    const res = await ingest.post(joinBatch([good1, truncated, wrongVersion, otherDevice, good2, otherSite, shortByOne, tooLarge]), batchHeaders);
    t.equal(res.status, 202);
    t.same(res.body, {
      accepted: 2,
      rejected: [
        { index: 1, reason: 'truncated' },
        { index: 2, reason: 'unknown format version 2' },
        { index: 3, reason: 'frame from site 1 device 1002 does not match the token' },
        { index: 5, reason: 'frame from site 2 device 2001 does not match the token' },
        { index: 6, reason: `length mismatch: header says ${good1.length}, frame has 60` },
        { index: 7, reason: 'frame larger than 16384 bytes' },
      ],
    });
    await assertPublishedOnce(t, ingest, [good1, good2]);
    const published = new Set((await ingest.raw()).map((e) => e.body.frame));
    t.notOk([truncated, wrongVersion, otherDevice, otherSite, shortByOne].some((bad) => published.has(bad.toString('base64'))), 'no rejected frame is published');
  });

  t.test('JSON entries that are not base64 frames are rejected by index', async (t) => {
    const good = frame();
    const res = await ingest.post(JSON.stringify({ frames: [42, good.toString('base64'), 'not*base64', ''] }), jsonHeaders);
    t.equal(res.status, 202);
    const rejected = [{ index: 0, reason: 'not a base64 string (got number)' }, { index: 2, reason: 'not valid base64 (standard alphabet, padded)' }, { index: 3, reason: 'truncated' }];
    t.same(res.body, { accepted: 1, rejected });
    await assertPublishedOnce(t, ingest, [good]);
  });

  t.test('401 without a token, with a malformed header, with an unknown token', async (t) => {
    const before = (await ingest.raw()).length;
    const cases: Array<[Record<string, string>, string]> = [
      [{}, 'missing Authorization header; expected Authorization: Bearer <device token>'],
      [{ authorization: 'Basic dXNlcjpwYXNz' }, 'malformed Authorization header; expected Authorization: Bearer <device token>'],
      [auth('no-such-token'), 'unknown device token'],
    ];
    for (const [headers, reason] of cases) {
      const res = await ingest.post(frame(), { 'content-type': 'application/octet-stream', ...headers });
      t.equal(res.status, 401, reason);
      t.same(res.body, { error: reason });
      t.match(res.headers.get('www-authenticate'), /^Bearer /);
    }
    t.equal((await ingest.raw()).length, before, 'nothing published');
  });

  t.test('415 for another content type or none', async (t) => {
    let res = await ingest.post(frame().toString('base64'), { 'content-type': 'text/plain', ...auth() });
    t.equal(res.status, 415);
    t.same(res.body, { error: "unsupported Content-Type 'text/plain'; expected one of application/octet-stream, application/x-hydra-batch, application/json" });
    // fetch sends a Buffer body without a Content-Type.
    res = await ingest.post(frame(), auth());
    t.equal(res.status, 415);
    t.match(res.body.error, /^missing Content-Type; expected one of/);
  });

  t.test('400 for a body that cannot be read as a whole', async (t) => {
    const before = (await ingest.raw()).length;
    const cases: Array<[Buffer | string, Record<string, string>, string | RegExp]> = [
      ['{"frames": [', jsonHeaders, /^body is not valid JSON \(/],
      ['[]', jsonHeaders, 'body must be a JSON object { "frames": ["<base64>", …] }'],
      ['{"frames": "AAAA"}', jsonHeaders, 'body must be a JSON object { "frames": ["<base64>", …] }'],
      ['{"frames": []}', jsonHeaders, 'frames is empty; expected at least one base64 frame'],
      // The second length runs past the end: the batch's own framing is broken, not one frame.
      [Buffer.concat([joinBatch([frame()]), Buffer.from([0, 0, 1, 0, 1, 2, 3])]), batchHeaders, 'batch truncated: frame 1 says 256 bytes, 3 left'],
      [Buffer.concat([joinBatch([frame()]), Buffer.from([0, 0])]), batchHeaders, 'batch truncated: frame 1 needs a 4-byte length, 2 bytes left'],
      [Buffer.alloc(0), batchHeaders, 'empty batch'],
      [Buffer.alloc(0), { 'content-type': 'application/octet-stream', ...auth() }, 'empty body; expected one frame'],
    ];
    for (const [body, headers, reason] of cases) {
      const res = await ingest.post(body, headers);
      t.equal(res.status, 400, String(reason));
      if (typeof reason === 'string') t.same(res.body, { error: reason });
      else t.match(res.body.error, reason);
    }
    t.equal((await ingest.raw()).length, before, 'nothing of a refused body is published');
  });

  t.test('413 for a body over 1 MiB and for a batch of over 1000 frames', async (t) => {
    const before = (await ingest.raw()).length;
    // The runtime refuses a body over 1 MiB before the handler runs (this checks it does).
    let res = await ingest.post(Buffer.alloc(1024 * 1024 + 1), batchHeaders);
    t.equal(res.status, 413, 'the runtime refuses a body over 1 MiB');
    t.match(res.body.error, /over the limit of 1048576 bytes/);
    // 1001 well-formed frames (~115 KB): the count alone is over the limit.
    const many = Array.from({ length: 1001 }, () => frame());
    res = await ingest.post(joinBatch(many), batchHeaders);
    t.equal(res.status, 413);
    t.same(res.body, { error: 'batch has more than 1000 frames; split it into several requests' });
    res = await ingest.post(JSON.stringify({ frames: many.map((f) => f.toString('base64')) }), jsonHeaders);
    t.equal(res.status, 413);
    t.equal((await ingest.raw()).length, before, 'nothing published');
    // Exactly 1000 is fine.
    const thousand = many.slice(0, 1000);
    const started = Date.now();
    res = await ingest.post(joinBatch(thousand), batchHeaders);
    t.equal(res.status, 202);
    t.equal(res.body.accepted, 1000);
    t.comment(`1000-frame batch answered in ${Date.now() - started} ms`);
    await assertPublishedOnce(t, ingest, thousand);
  });

  t.test('a device added to the fleet file is let in at once', async (t) => {
    writeFleet(ingest.fleetFile, { sites: [{ ...FLEET.sites[0]!, devices: [...FLEET.sites[0]!.devices, { id: 1003, token: 'token-1003-new' }] }, FLEET.sites[1]!] });
    const f = frame({ device: 1003 });
    const res = await ingest.post(f, { 'content-type': 'application/octet-stream', ...auth('token-1003-new') });
    t.equal(res.status, 202);
    t.same(res.body, { accepted: 1, rejected: [] });
    t.equal((await ingest.raw()).filter((e) => e.key === '1:1003').length, 1);
  });

  t.test('every refusal is counted by reason class', async (t) => {
    const c = await ingest.counters((c) => c.rejected_too_large === 2 && c.accepted === 1010);
    t.match(c, {
      accepted: 1 + 3 + 2 + 2 + 1 + 1000 + 1,
      rejected_auth: 3,
      rejected_content_type: 2,
      rejected_body: 8,
      rejected_too_large: 2,
      rejected_framing: 5,
      rejected_size: 1,
      rejected_version: 1,
      rejected_device_mismatch: 2,
      publish_failures: 0,
    });
    t.equal(ingest.child().restarts, 0, 'no bad input stopped the service');
  });
});

t.test('503, and nothing claimed accepted, while Redis is unreachable', async (t) => {
  // A port nothing listens on: ioredis keeps reconnecting and holds the publish. A short
  // shutdown: the transport's QUIT waits for a connection that never comes, until SIGKILL.
  const ingest = await startIngest(t, { REDIS_URL: 'redis://127.0.0.1:1', INGEST_PUBLISH_TIMEOUT_MS: '300' }, 500);
  const res = await ingest.post(joinBatch([frame(), frame()]), batchHeaders);
  t.equal(res.status, 503);
  t.equal(res.headers.get('retry-after'), '1');
  t.match(res.body.error, /^could not publish to packets\.raw: not published within 300 ms .*; no frame of this request is acknowledged, send it again$/);
  t.notOk('accepted' in res.body);
  // While that publish is stalled, the next request is refused at once rather than piling up.
  const started = Date.now();
  const again = await ingest.post(frame());
  t.equal(again.status, 503);
  t.match(again.body.error, /earlier publish\(es\) still waiting for room/);
  t.ok(Date.now() - started < 300, 'refused without waiting');
  // A request whose frames are all rejected publishes nothing, so it is still answered.
  const rejectedOnly = await ingest.post(frame({ device: 1002 }));
  t.equal(rejectedOnly.status, 202);
  t.same(rejectedOnly.body, { accepted: 0, rejected: [{ index: 0, reason: 'frame from site 1 device 1002 does not match the token' }] });
  await ingest.counters((c) => c.publish_failures === 2 && c.accepted === 0);
});

t.test('503 while packets.raw is over its high-water mark; accepted again once consumers catch up', async (t) => {
  const ingest = await startIngest(t, { INGEST_PUBLISH_TIMEOUT_MS: '300' });
  const key = `${ingest.redis.prefix}packets.raw`;
  // A consumer group 10 000 entries behind (the channel's default high-water mark).
  const pipeline = ingest.redis.redis.pipeline();
  for (let i = 0; i < 10_000; i++) pipeline.xadd(key, '*', 'type', 'filler', 'v', '1', 'ts', '0', 'body', '{}');
  await pipeline.exec();
  await ingest.redis.redis.xgroup('CREATE', key, 'parse', '0');
  const f = frame();
  const res = await ingest.post(f);
  t.equal(res.status, 503);
  t.match(res.body.error, /not published within 300 ms/);
  // The consumers catch up: the stalled publish lands (at-least-once), then requests flow again.
  await ingest.redis.redis.xgroup('SETID', key, 'parse', '$');
  const g = frame();
  const ok = await waitFor('ingest to accept again', async () => {
    const r = await ingest.post(g);
    return r.status === 202 ? r : null;
  });
  t.same(ok.body, { accepted: 1, rejected: [] });
  const seqs = (await ingest.raw()).filter((e) => e.type === 'packet.raw').map((e) => e.body.seq);
  t.same(seqs, [seqOf(f), seqOf(g)], 'the frame answered 503 may still land once; the retry-safe one lands once');
});
