/**
 * Seeded generator of device frames and batches for the fuzz tests: valid frames built from the
 * simulator's traffic (real records, real blasts) and encrypted with a fleet key, then broken in
 * the ways a radio link, a buggy firmware or an attacker would: truncation, trailing bytes, bit
 * flips, header fields and the length field set wrong, payloads that authenticate but carry
 * impossible record counts (sealed with the right key, so the decoder behind the tag is reached),
 * the wrong key, random bytes and oversize frames. The same seed gives the same cases.
 */
import { createCipheriv } from 'node:crypto';
import type { Fleet } from '../../services/messages.js';
import { FRAME_TYPES } from '../../services/messages.js';
import { encodeFrame, HEADER_SIZE, joinBatch, MAGIC, MAX_BATCH_FRAMES, MAX_FRAME, NONCE_SIZE, TAG_SIZE } from '../../services/packet/frame.js';
import { MAX_RECORDS, PAYLOAD_HEAD, RECORD_SIZE } from '../../services/packet/payload.js';
import { seededRandom, type Rng } from '../../services/simulator/random.js';
import { Traffic } from '../../services/simulator/traffic.js';

export interface FuzzFrame {
  bytes: Buffer;
  /** What was done to it, for the failure message and the tally. */
  mutation: string;
  /** The site whose key the decoder should use (the frame's claimed site may be garbage). */
  site: number;
}

export interface FuzzBatch {
  body: Buffer;
  mutation: string;
}

const FRAME_MUTATIONS = ['valid', 'truncate', 'extend', 'bitflip', 'byteset', 'header-field', 'length-field', 'huge-count', 'payload-shape', 'wrong-key', 'splice', 'random', 'oversize'] as const;

export class FrameFuzzer {
  readonly rng: Rng;
  private readonly traffic: Traffic;
  private readonly keys: Map<number, string>;
  private readonly wrongKey = 'ab'.repeat(32);

  constructor(
    readonly seed: number,
    readonly fleet: Fleet,
  ) {
    this.rng = seededRandom(seed);
    // Statuses, arms, fires and ends, a few replays: every frame type the simulator makes.
    this.traffic = new Traffic(fleet, { seed, statusItems: 40, replayRate: 0.05 });
    this.keys = new Map(fleet.sites.map((s) => [s.id, s.key]));
  }

  key(site: number): string | undefined {
    return this.keys.get(site);
  }

  /** A valid frame of the simulator's traffic, encrypted with a nonce from the seed. */
  valid(): FuzzFrame {
    if (this.rng.chance(0.05)) this.traffic.startBlast(this.rng.pick(['complete', 'fault', 'abort'] as const));
    const f = this.traffic.step()[0]!;
    const input = { type: f.type, site: f.site, device: f.device, seq: f.seq, deviceTs: 1_700_000_000_000 + f.seq, blastId: f.blastId, items: f.items };
    return { bytes: encodeFrame(input, this.keys.get(f.site)!, this.bytes(NONCE_SIZE)), mutation: 'valid', site: f.site };
  }

  /** One valid or broken frame. */
  frame(): FuzzFrame {
    const base = this.valid();
    const b = Buffer.from(base.bytes);
    const kind = this.rng.pick(FRAME_MUTATIONS);
    const site = base.site;
    switch (kind) {
      case 'valid':
        return base;
      case 'truncate':
        return { bytes: b.subarray(0, this.rng.int(0, b.length - 1)), mutation: kind, site };
      case 'extend':
        return { bytes: Buffer.concat([b, this.bytes(this.rng.int(1, 64))]), mutation: kind, site };
      case 'bitflip': {
        const n = this.rng.int(1, 8);
        for (let i = 0; i < n; i++) {
          const at = this.rng.int(0, b.length - 1);
          b[at] = b[at]! ^ (1 << this.rng.int(0, 7));
        }
        return { bytes: b, mutation: `${kind}×${n}`, site };
      }
      case 'byteset': {
        const n = this.rng.int(1, 4);
        for (let i = 0; i < n; i++) b[this.rng.int(0, b.length - 1)] = this.rng.int(0, 255);
        return { bytes: b, mutation: `${kind}×${n}`, site };
      }
      case 'header-field': {
        const field = this.rng.pick(['magic', 'version', 'type', 'site', 'device'] as const);
        const edge = (max: number): number => this.rng.pick([0, 1, max, this.rng.int(0, max)]);
        if (field === 'magic') b.writeUInt16BE(this.rng.chance(0.5) ? MAGIC ^ (1 << this.rng.int(0, 15)) : edge(0xffff), 0);
        if (field === 'version') b.writeUInt8(edge(0xff), 2);
        if (field === 'type') b.writeUInt8(edge(0xff), 3);
        if (field === 'site') b.writeUInt32BE(edge(0xffffffff), 4);
        if (field === 'device') b.writeUInt32BE(edge(0xffffffff), 8);
        return { bytes: b, mutation: `${kind}:${field}`, site };
      }
      case 'length-field': {
        const real = b.readUInt16BE(24);
        b.writeUInt16BE(this.rng.pick([0, 0xffff, real + 1, Math.max(0, real - 1), real + 14, this.rng.int(0, 0xffff)]) & 0xffff, 24);
        return { bytes: b, mutation: kind, site };
      }
      case 'huge-count': {
        // Authenticates (sealed with the site key) but the record count lies.
        const count = this.rng.pick([0xffff, MAX_RECORDS + 1, MAX_RECORDS + this.rng.int(2, 60_000), this.rng.int(1, 50)]);
        const plain = Buffer.alloc(PAYLOAD_HEAD + RECORD_SIZE * this.rng.int(0, 3));
        plain.writeUInt16BE(count, 4);
        return { bytes: this.seal(b, plain, this.keys.get(site)!), mutation: `${kind}:${count}`, site };
      }
      case 'payload-shape': {
        const shape = this.rng.pick(['short', 'ragged', 'bad-status', 'max-plus-one', 'empty'] as const);
        let plain: Buffer;
        if (shape === 'short') plain = this.bytes(this.rng.int(1, PAYLOAD_HEAD - 1));
        else if (shape === 'empty') plain = Buffer.alloc(0);
        else if (shape === 'ragged') {
          const n = this.rng.int(0, 20);
          plain = Buffer.alloc(PAYLOAD_HEAD + RECORD_SIZE * n + this.rng.int(1, RECORD_SIZE - 1));
          plain.writeUInt16BE(n, 4);
        } else if (shape === 'bad-status') {
          const n = this.rng.int(1, 20);
          plain = Buffer.alloc(PAYLOAD_HEAD + RECORD_SIZE * n);
          plain.writeUInt16BE(n, 4);
          plain.writeUInt8(this.rng.int(6, 255), PAYLOAD_HEAD + RECORD_SIZE * this.rng.int(0, n - 1) + 4);
        } else {
          plain = Buffer.alloc(PAYLOAD_HEAD + RECORD_SIZE * (MAX_RECORDS + 1));
          plain.writeUInt16BE(MAX_RECORDS + 1, 4);
        }
        return { bytes: this.seal(b, plain, this.keys.get(site)!), mutation: `${kind}:${shape}`, site };
      }
      case 'wrong-key':
        return { bytes: this.seal(b, this.bytes(PAYLOAD_HEAD), this.wrongKey), mutation: kind, site };
      case 'splice': {
        const other = this.valid().bytes;
        return { bytes: Buffer.concat([b.subarray(0, HEADER_SIZE), other.subarray(HEADER_SIZE)]), mutation: kind, site };
      }
      case 'random': {
        const r = this.bytes(this.rng.int(0, 2_000));
        // Half of them get past the magic and version, to reach the checks behind.
        if (this.rng.chance(0.5) && r.length >= 4) {
          r.writeUInt16BE(MAGIC, 0);
          r.writeUInt8(1, 2);
          r.writeUInt8(this.rng.int(1, FRAME_TYPES.length), 3);
        }
        return { bytes: r, mutation: kind, site };
      }
      case 'oversize': {
        const r = Buffer.concat([b, this.bytes(MAX_FRAME + this.rng.int(1, 20_000) - b.length)]);
        if (this.rng.chance(0.5)) r.writeUInt16BE(r.length - HEADER_SIZE - TAG_SIZE > 0xffff ? 0xffff : r.length - HEADER_SIZE - TAG_SIZE, 24);
        return { bytes: r, mutation: kind, site };
      }
    }
  }

  /** A batch body (4-byte big-endian length before each frame), valid in its framing or broken in it. */
  batch(frames: Buffer[]): FuzzBatch {
    const body = joinBatch(frames);
    const kind = this.rng.pick(['ok', 'ok', 'ok', 'truncate', 'prefix-flip', 'prefix-huge', 'stray-tail', 'empty', 'too-many'] as const);
    switch (kind) {
      case 'ok':
        return { body, mutation: 'ok' };
      case 'truncate':
        return { body: body.subarray(0, this.rng.int(0, Math.max(0, body.length - 1))), mutation: kind };
      case 'prefix-flip': {
        const b = Buffer.from(body);
        let at = 0;
        const target = this.rng.int(0, frames.length - 1);
        for (let i = 0; i < target; i++) at += 4 + frames[i]!.length;
        const byte = at + this.rng.int(0, 3);
        b[byte] = b[byte]! ^ (1 << this.rng.int(0, 7));
        return { body: b, mutation: kind };
      }
      case 'prefix-huge': {
        const b = Buffer.from(body);
        b.writeUInt32BE(this.rng.pick([0xffffffff, 0x7fffffff, body.length]), 0);
        return { body: b, mutation: kind };
      }
      case 'stray-tail':
        return { body: Buffer.concat([body, this.bytes(this.rng.int(1, 3))]), mutation: kind };
      case 'empty':
        return { body: Buffer.alloc(0), mutation: kind };
      case 'too-many':
        return { body: joinBatch(Array.from({ length: MAX_BATCH_FRAMES + this.rng.int(1, 50) }, () => this.bytes(this.rng.int(0, 8)))), mutation: kind };
    }
  }

  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.rng.int(0, 255);
    return b;
  }

  /** `header`'s first 24 bytes and a fresh nonce around `plain`, encrypted and tagged with `key`. */
  private seal(header: Buffer, plain: Buffer, key: string): Buffer {
    const nonce = this.bytes(NONCE_SIZE);
    const frame = Buffer.alloc(HEADER_SIZE + plain.length + TAG_SIZE);
    header.copy(frame, 0, 0, 24);
    frame.writeUInt16BE(plain.length, 24);
    nonce.copy(frame, 26);
    const cipher = createCipheriv('aes-256-gcm', Buffer.from(key, 'hex'), nonce, { authTagLength: TAG_SIZE });
    cipher.setAAD(frame.subarray(0, HEADER_SIZE));
    const sealed = Buffer.concat([cipher.update(plain), cipher.final()]);
    sealed.copy(frame, HEADER_SIZE);
    cipher.getAuthTag().copy(frame, HEADER_SIZE + sealed.length);
    return frame;
  }
}

/** Cases to run: HYDRA_FUZZ_COUNT (`npm run test:chaos` sets 100 000), else `fallback`. */
export function fuzzCount(variable: string, fallback: number): number {
  const raw = process.env[variable];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${variable}: '${raw}' is not a positive integer`);
  return n;
}

/** The seed: HYDRA_FUZZ_SEED to replay a failure, else random (printed by the tests). */
export function fuzzSeed(): number {
  const raw = process.env.HYDRA_FUZZ_SEED;
  return raw ? Number(raw) : Math.floor(Math.random() * 2 ** 31);
}
