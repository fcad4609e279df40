/**
 * The packet codec (docs/packet-format.md): frames round-trip; each malformation is refused with
 * its reason; a flipped bit anywhere authenticated, or the wrong key, fails authentication; the
 * length-prefixed batch splits and refuses bad framing.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import t from 'tap';
import type { ItemRecord } from '../../services/messages.js';
import { decodeFrame, encodeFrame, FrameError, joinBatch, MAX_FRAME, readHeader, splitBatch, type FrameInput } from '../../services/packet/frame.js';

const KEY = 'a1'.repeat(32);
const OTHER_KEY = 'b2'.repeat(32);

const items: ItemRecord[] = [
  { item: 1, status: 'armed', faultCode: 0, voltage: 24.1, resistance: 2.875, delayMs: 0 },
  { item: 4_000_000_000, status: 'fault', faultCode: 17, voltage: 0, resistance: 65.535, delayMs: 4_294_967_295 },
  { item: 3, status: 'misfire', faultCode: 0, voltage: 655.35, resistance: 0.001, delayMs: 25 },
];
const input: FrameInput = { type: 'complete', site: 7, device: 7001, seq: 4_294_967_295, deviceTs: 1_790_000_000_123, blastId: 42, items };

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof FrameError) return err.reason;
    throw err;
  }
  throw new Error('expected a FrameError');
}

/** A frame sealed by hand, to build payloads the encoder refuses to make. */
function sealRaw(plain: Buffer, type = 1): Buffer {
  const header = Buffer.alloc(38);
  header.writeUInt16BE(0x4844, 0);
  header.writeUInt8(1, 2);
  header.writeUInt8(type, 3);
  header.writeUInt32BE(1, 4);
  header.writeUInt32BE(1001, 8);
  header.writeUInt32BE(1, 12);
  header.writeUInt16BE(plain.length, 24);
  const nonce = randomBytes(12);
  nonce.copy(header, 26);
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(KEY, 'hex'), nonce);
  cipher.setAAD(header);
  return Buffer.concat([header, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
}

t.test('a frame round-trips: header in clear, records exact', async (t) => {
  const nonce = Buffer.alloc(12, 9);
  const frame = encodeFrame(input, KEY, nonce);
  t.equal(frame.length, 54 + 6 + 14 * items.length, 'a frame is 54 + L bytes');
  t.equal(frame.subarray(0, 2).toString('latin1'), 'HD');
  const header = readHeader(frame);
  t.same(header, { version: 1, type: 'complete', site: 7, device: 7001, seq: 4_294_967_295, deviceTs: 1_790_000_000_123, length: 6 + 14 * 3, nonce });
  const decoded = decodeFrame(frame, KEY);
  t.equal(decoded.blastId, 42);
  t.same(decoded.items, items);
  t.same(decoded.header, header);
});

t.test('every frame type and status round-trips; an empty record list too', async (t) => {
  for (const type of ['status', 'arm', 'fire', 'complete', 'abort', 'fault'] as const) {
    const all = (['unknown', 'connected', 'armed', 'fired', 'misfire', 'fault'] as const).map((status, i) => ({ item: i, status, faultCode: 0, voltage: 24, resistance: 3, delayMs: i }));
    const d = decodeFrame(encodeFrame({ ...input, type, items: all }, KEY), KEY);
    t.equal(d.header.type, type);
    t.same(d.items, all);
  }
  t.same(decodeFrame(encodeFrame({ ...input, type: 'fire', items: [] }, KEY), KEY).items, []);
});

t.test('the nonce is random unless given', async (t) => {
  const a = encodeFrame(input, KEY);
  const b = encodeFrame(input, KEY);
  t.not(a.subarray(26, 38).toString('hex'), b.subarray(26, 38).toString('hex'));
  t.not(a.toString('hex'), b.toString('hex'));
});

t.test('a 1000-record frame fits; more records are refused by the encoder', async (t) => {
  const many = Array.from({ length: 1000 }, (_, i) => ({ ...items[0]!, item: i }));
  const frame = encodeFrame({ ...input, items: many }, KEY);
  t.ok(frame.length <= MAX_FRAME);
  t.equal(decodeFrame(frame, KEY).items.length, 1000);
  t.throws(() => encodeFrame({ ...input, items: [...many, items[0]!] }, KEY), /at most 1000/);
  t.throws(() => encodeFrame({ ...input, seq: -1 }, KEY), /seq: -1 is not an integer/);
  t.throws(() => encodeFrame({ ...input, items: [{ ...items[0]!, voltage: 700 }] }, KEY), /items\[0\]\.voltage/);
});

t.test('each malformed header is refused with its reason', async (t) => {
  const good = encodeFrame(input, KEY);
  const edit = (at: number, value: number): Buffer => {
    const b = Buffer.from(good);
    b.writeUInt8(value, at);
    return b;
  };
  t.equal(reason(() => readHeader(good.subarray(0, 37))), 'truncated');
  t.equal(reason(() => readHeader(Buffer.alloc(0))), 'truncated');
  t.equal(reason(() => readHeader(edit(0, 0x58))), 'bad magic');
  t.equal(reason(() => readHeader(edit(2, 2))), 'unknown format version 2');
  t.equal(reason(() => readHeader(edit(3, 0))), 'unknown frame type 0');
  t.equal(reason(() => readHeader(edit(3, 7))), 'unknown frame type 7');
  t.equal(reason(() => readHeader(good.subarray(0, good.length - 1))), `length mismatch: header says ${good.length}, frame has ${good.length - 1}`);
  t.equal(reason(() => readHeader(Buffer.concat([good, Buffer.alloc(3)]))), `length mismatch: header says ${good.length}, frame has ${good.length + 3}`);
  t.equal(reason(() => readHeader(Buffer.alloc(MAX_FRAME + 1))), 'frame larger than 16384 bytes');
  t.equal(reason(() => decodeFrame(edit(2, 9), KEY)), 'unknown format version 9', 'decode reads the header first');
});

t.test('a flipped bit in the header, ciphertext or tag fails authentication', async (t) => {
  const good = encodeFrame(input, KEY);
  // Bytes the header checks would not catch: site, device, seq, timestamp, nonce; then payload and tag.
  for (const at of [4, 9, 15, 20, 30, 38, 45, good.length - 17, good.length - 1]) {
    const bad = Buffer.from(good);
    bad[at]! ^= 0x01;
    t.equal(reason(() => decodeFrame(bad, KEY)), 'authentication failed (wrong key or tampered frame)', `bit flipped at byte ${at}`);
  }
});

t.test('the wrong key fails authentication', async (t) => {
  t.equal(reason(() => decodeFrame(encodeFrame(input, KEY), OTHER_KEY)), 'authentication failed (wrong key or tampered frame)');
  t.throws(() => decodeFrame(encodeFrame(input, KEY), 'abc'), /key must be 64 hex characters/);
});

t.test('an authentic but malformed payload is refused with its reason', async (t) => {
  const head = (blast: number, count: number): Buffer => {
    const b = Buffer.alloc(6);
    b.writeUInt32BE(blast, 0);
    b.writeUInt16BE(count, 4);
    return b;
  };
  const record = (status: number): Buffer => {
    const r = Buffer.alloc(14);
    r.writeUInt32BE(5, 0);
    r.writeUInt8(status, 4);
    return r;
  };
  t.equal(reason(() => decodeFrame(sealRaw(Buffer.alloc(4)), KEY)), 'payload length 4 is shorter than its 6-byte head');
  t.equal(reason(() => decodeFrame(sealRaw(Buffer.concat([head(0, 2), record(1)])), KEY)), 'payload length 20 does not match 2 records (expected 34)');
  t.equal(reason(() => decodeFrame(sealRaw(Buffer.concat([head(0, 1), record(1), Buffer.alloc(1)])), KEY)), 'payload length 21 does not match 1 records (expected 20)');
  t.equal(reason(() => decodeFrame(sealRaw(head(0, 1001)), KEY)), 'record count over 1000');
  t.equal(reason(() => decodeFrame(sealRaw(Buffer.concat([head(0, 2), record(1), record(6)])), KEY)), 'unknown status 6');
  t.same(decodeFrame(sealRaw(Buffer.concat([head(3, 1), record(3)])), KEY).items[0]?.status, 'fired', 'the hand-made frame itself is fine');
});

t.test('a batch splits into its frames; bad framing of the batch is refused', async (t) => {
  const frames = [encodeFrame(input, KEY), encodeFrame({ ...input, seq: 2, items: [] }, KEY), Buffer.alloc(0)];
  const batch = joinBatch(frames);
  t.equal(batch.length, frames.reduce((n, f) => n + 4 + f.length, 0));
  const split = splitBatch(batch);
  t.same(split.map((f) => f.toString('hex')), frames.map((f) => f.toString('hex')));
  t.equal(readHeader(split[1]!).seq, 2);
  t.equal(reason(() => readHeader(split[2]!)), 'truncated', 'a bad frame inside a good batch is left for readHeader, by index');
  t.equal(reason(() => splitBatch(Buffer.alloc(0))), 'empty batch');
  t.equal(reason(() => splitBatch(batch.subarray(0, batch.length - 1))), `batch truncated: frame 2 needs a 4-byte length, 3 bytes left`);
  t.equal(reason(() => splitBatch(batch.subarray(0, 10))), `batch truncated: frame 0 says ${frames[0]!.length} bytes, 6 left`);
  t.equal(splitBatch(joinBatch(Array.from({ length: 1000 }, () => Buffer.alloc(1)))).length, 1000);
  t.equal(reason(() => splitBatch(joinBatch(Array.from({ length: 1001 }, () => Buffer.alloc(1))))), 'batch has more than 1000 frames');
});
