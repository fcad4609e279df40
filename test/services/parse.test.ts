/**
 * The parse service as a real process (Supervisor + serviceChildSpec) over the real Redis, with
 * a fleet file in a temp dir: good frames become `packet.parsed@1` with decoded items; a frame
 * that can never be parsed (wrong key, tampered, unknown site, unknown version, malformed
 * payload, malformed body) goes to packets.raw's dead-letter stream with its reason, is counted,
 * and the service keeps running and parses the next good frame; a site added to the fleet file
 * is known at once.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { Channel, createRedisTransport, type DeadLetter, type Envelope } from '../../channels/index.js';
import type { Fleet, ItemRecord, PacketParsedV1, PacketRawV1 } from '../../services/messages.js';
import { writeFleet } from '../../services/packet/fleet.js';
import { encodeFrame, type FrameInput } from '../../services/packet/frame.js';
import { serviceChildSpec } from '../../runtime/serviceChild.js';
import { Supervisor } from '../../supervisor/supervisor.js';
import type { ChildInfo } from '../../supervisor/types.js';
import { testRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const PARSE = fileURLToPath(new URL('../../services/parse/index.ts', import.meta.url));
const KEY1 = '1a'.repeat(32);
const KEY2 = '2b'.repeat(32);
const KEY3 = '3c'.repeat(32);
const FLEET: Fleet = {
  sites: [
    { id: 1, key: KEY1, devices: [{ id: 1001, token: 'token-1001-secret' }] },
    { id: 2, key: KEY2, devices: [{ id: 2001, token: 'token-2001-secret' }] },
  ],
};

const ITEMS: ItemRecord[] = [
  { item: 1, status: 'armed', faultCode: 0, voltage: 24.1, resistance: 2.875, delayMs: 0 },
  { item: 2, status: 'fault', faultCode: 17, voltage: 0, resistance: 65.535, delayMs: 25 },
];

let nextSeq = 1;
function input(over: Partial<FrameInput> = {}): FrameInput {
  const seq = over.seq ?? nextSeq++;
  return { type: 'arm', site: 1, device: 1001, seq, deviceTs: 1_700_000_000_000 + seq, blastId: 7, items: ITEMS, ...over };
}

/** A site-1 frame sealed by hand around any plaintext, to make payloads the encoder refuses to. */
function sealRaw(plain: Buffer, seq: number): Buffer {
  const header = Buffer.alloc(38);
  header.writeUInt16BE(0x4844, 0);
  header.writeUInt8(1, 2);
  header.writeUInt8(1, 3);
  header.writeUInt32BE(1, 4);
  header.writeUInt32BE(1001, 8);
  header.writeUInt32BE(seq, 12);
  header.writeUInt16BE(plain.length, 24);
  const nonce = randomBytes(12);
  nonce.copy(header, 26);
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(KEY1, 'hex'), nonce);
  cipher.setAAD(header);
  return Buffer.concat([header, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
}

/** What ingest would publish for `frame` (the header fields copied from the frame itself). */
function rawBody(frame: Buffer): PacketRawV1 {
  return { frame: frame.toString('base64'), site: frame.readUInt32BE(4), device: frame.readUInt32BE(8), seq: frame.readUInt32BE(12), receivedAt: Date.now() };
}

interface ParseHarness {
  raw: Channel;
  parsed: Channel;
  fleetFile: string;
  child(): ChildInfo;
  /** Publishes bodies to packets.raw; returns their entry ids. */
  publish(...bodies: unknown[]): Promise<string[]>;
  /** packets.parsed once it holds `n` entries. */
  parsedEntries(n: number): Promise<Array<Envelope<PacketParsedV1>>>;
  /** packets.raw's dead letters once there are `n`. */
  deadLetters(n: number): Promise<DeadLetter[]>;
  counters(until: (c: Record<string, number>) => boolean): Promise<Record<string, number>>;
}

async function startParse(t: Test): Promise<ParseHarness> {
  const redis = await testRedis(t);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hydra-parse-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const fleetFile = path.join(dir, 'fleet.json');
  writeFleet(fleetFile, FLEET);
  const transport = createRedisTransport({ url: redis.url, keyPrefix: redis.prefix });
  t.teardown(() => transport.close());
  const raw = new Channel(transport, 'packets.raw');
  const parsed = new Channel(transport, 'packets.parsed');
  const sup = new Supervisor({
    id: 'services',
    strategy: 'one_for_one',
    intensity: 5,
    periodMs: 10_000,
    children: [
      serviceChildSpec({
        id: 'parse#1',
        module: PARSE,
        version: '1.0.0',
        env: { REDIS_URL: redis.url, HYDRA_KEY_PREFIX: redis.prefix, HYDRA_FLEET: fleetFile, HYDRA_HEARTBEAT_MS: '100' },
        startTimeoutMs: 30_000,
        ...(process.env.PARSE_TEST_LOGS ? {} : { output: () => undefined }),
      }),
    ],
  });
  await sup.start();
  t.teardown(() => sup.stop());
  const child = () => sup.whichChildren()[0]!;

  // A reader of packets.parsed standing in for state, through the channels API.
  const seen: Array<Envelope<PacketParsedV1>> = [];
  const reader = parsed.consume({ group: 'test-reader', consumer: 'reader#1', blockMs: 100, versions: { 'packet.parsed': 1 } }, (batch) => {
    seen.push(...(batch as Array<Envelope<PacketParsedV1>>));
  });
  await reader.ready;
  t.teardown(() => reader.stop());

  return {
    raw,
    parsed,
    fleetFile,
    child,
    publish: (...bodies) => raw.publishMany(bodies.map((body) => ({ type: 'packet.raw', v: 1, key: 'test', body }))),
    parsedEntries: (n) => waitFor(`${n} entries on packets.parsed`, () => (seen.length >= n ? seen.slice() : null)),
    deadLetters: (n) =>
      waitFor(`${n} dead letters on packets.raw`, async () => {
        const list = await raw.deadLetters(1000);
        return list.length >= n ? list : null;
      }),
    counters: (until) =>
      waitFor('parse counters', () => {
        const c = child().status?.counters;
        return c && until(c) ? c : null;
      }),
  };
}

t.test('good frames become packet.parsed@1 with decoded items', async (t) => {
  const h = await startParse(t);
  const a = input();
  const b = input({ type: 'status', site: 2, device: 2001, blastId: 0, items: [{ item: 9, status: 'connected', faultCode: 0, voltage: 655.35, resistance: 0.001, delayMs: 4_294_967_295 }] });
  const ids = await h.publish(rawBody(encodeFrame(a, KEY1)), rawBody(encodeFrame(b, KEY2)));
  const got = await h.parsedEntries(2);
  t.same(
    got.map((e) => ({ type: e.type, v: e.v, key: e.key, body: e.body })),
    [
      { type: 'packet.parsed', v: 1, key: '1:1001', body: { site: 1, device: 1001, seq: a.seq, deviceTs: a.deviceTs, frameType: 'arm', blastId: 7, items: ITEMS, rawId: ids[0] } },
      { type: 'packet.parsed', v: 1, key: '2:2001', body: { site: 2, device: 2001, seq: b.seq, deviceTs: b.deviceTs, frameType: 'status', blastId: 0, items: b.items, rawId: ids[1] } },
    ],
    'volts and ohms from centivolts and milliohms; rawId is the packets.raw entry id',
  );
  const c = await h.counters((c) => c.parsed === 2);
  t.match(c, { parsed: 2, items: 3, deadLettered: 0 });
  t.same(await h.raw.deadLetters(), []);
});

t.test('frames that can never be parsed are dead-lettered with the reason; the service parses on', async (t) => {
  const h = await startParse(t);
  const wrongKey = encodeFrame(input(), KEY2);
  const tamperedPayload = Buffer.from(encodeFrame(input(), KEY1));
  tamperedPayload[40]! ^= 0x01;
  // The header is authenticated too: a replayed frame with a rewritten sequence fails.
  const tamperedHeader = Buffer.from(encodeFrame(input(), KEY1));
  tamperedHeader.writeUInt32BE(999_999, 12);
  const unknownSite = encodeFrame(input({ site: 9, device: 9001 }), KEY1);
  const wrongVersion = Buffer.from(encodeFrame(input(), KEY1));
  wrongVersion.writeUInt8(3, 2);
  const badPayload = sealRaw(Buffer.from([0, 0, 0, 0, 0, 2, 1, 2, 3]), nextSeq++);
  const good1 = input();
  const good2 = input({ type: 'fire', items: [] });

  const ids = await h.publish(
    rawBody(wrongKey),
    rawBody(tamperedPayload),
    rawBody(encodeFrame(good1, KEY1)),
    rawBody(tamperedHeader),
    rawBody(unknownSite),
    rawBody(wrongVersion),
    rawBody(badPayload),
    { site: 1, device: 1001, seq: 1, receivedAt: 0 },
    rawBody(encodeFrame(good2, KEY1)),
  );
  const dead = await h.deadLetters(7);
  const auth = 'authentication failed (wrong key or tampered frame)';
  t.same(
    dead.map((d) => ({ originalId: d.originalId, error: d.error, group: d.group })).sort((x, y) => ids.indexOf(x.originalId) - ids.indexOf(y.originalId)),
    [
      { originalId: ids[0], error: auth, group: 'parse' },
      { originalId: ids[1], error: auth, group: 'parse' },
      { originalId: ids[3], error: auth, group: 'parse' },
      { originalId: ids[4], error: 'unknown site 9', group: 'parse' },
      { originalId: ids[5], error: 'unknown format version 3', group: 'parse' },
      { originalId: ids[6], error: 'payload length 9 does not match 2 records (expected 34)', group: 'parse' },
      { originalId: ids[7], error: 'malformed packet.raw@1 body: frame must be a base64 string', group: 'parse' },
    ],
    'each bad frame is dead-lettered once, on its first delivery, with its reason',
  );
  t.ok(dead.every((d) => d.deliveries === 1), 'not retried first');
  const got = await h.parsedEntries(2);
  t.same(
    got.map((e) => [e.body.seq, e.body.frameType, e.body.rawId]),
    [
      [good1.seq, 'arm', ids[2]],
      [good2.seq, 'fire', ids[8]],
    ],
    'the good frames around them are parsed',
  );
  const c = await h.counters((c) => c.deadLettered === 7 && c.parsed === 2);
  t.match(c, { parsed: 2, dead_auth: 3, dead_unknown_site: 1, dead_version: 1, dead_malformed: 1, dead_bad_body: 1, failed: 0 });
  await waitFor('packets.raw fully acknowledged by parse', async () => {
    const g = (await h.raw.groups()).find((x) => x.name === 'parse');
    return g !== undefined && g.pending === 0 && g.lag === 0;
  });
  t.equal(h.child().restarts, 0, 'the service kept running');

  // And it goes on parsing what comes next.
  const next = input();
  await h.publish(rawBody(encodeFrame(next, KEY1)));
  t.equal((await h.parsedEntries(3))[2]!.body.seq, next.seq);
});

t.test('a site added to the fleet file is known at once', async (t) => {
  const h = await startParse(t);
  // Prime the watcher, so the next look at the file is up to a second away.
  await h.publish(rawBody(encodeFrame(input(), KEY1)));
  await h.parsedEntries(1);
  writeFleet(h.fleetFile, { sites: [...FLEET.sites, { id: 3, key: KEY3, devices: [{ id: 3001, token: 'token-3001-secret' }] }] });
  const f = input({ site: 3, device: 3001 });
  await h.publish(rawBody(encodeFrame(f, KEY3)));
  const got = await h.parsedEntries(2);
  t.match(got[1]!.body, { site: 3, device: 3001, seq: f.seq });
  t.same(await h.raw.deadLetters(), [], 'not dead-lettered as an unknown site');
});
