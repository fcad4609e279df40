/**
 * The binary frame of docs/packet-format.md (format version 1): a 38-byte header in clear,
 * authenticated as AES-256-GCM additional data, the encrypted payload and a 16-byte tag; and the
 * length-prefixed batch ingest accepts. Every refusal is a FrameError whose message is the reason
 * a client or an operator sees, so the wording here is part of the contract.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { FRAME_TYPES, type FrameType, type ItemRecord } from '../messages.js';
import { FrameError } from './errors.js';
import { decodePayload, encodePayload, uint } from './payload.js';

export { FrameError } from './errors.js';

export const MAGIC = 0x4844; // "HD"
export const FORMAT_VERSION = 1;
export const HEADER_SIZE = 38;
export const NONCE_SIZE = 12;
export const TAG_SIZE = 16;
/** 16 KiB; the largest legal payload (1000 records) makes a 14 060-byte frame. */
export const MAX_FRAME = 16_384;
export const MAX_BATCH_FRAMES = 1000;

/** Frame types in wire order: the byte is the index + 1. */

export interface FrameHeader {
  version: number;
  type: FrameType;
  site: number;
  device: number;
  seq: number;
  /** Epoch milliseconds, device clock. */
  deviceTs: number;
  /** Ciphertext length `L`; the frame is `54 + L` bytes. */
  length: number;
  nonce: Buffer;
}

export interface FrameInput {
  type: FrameType;
  site: number;
  device: number;
  seq: number;
  deviceTs: number;
  blastId: number;
  items: ItemRecord[];
}

export interface DecodedFrame {
  header: FrameHeader;
  blastId: number;
  items: ItemRecord[];
}

// ---- encode ---------------------------------------------------------------------------------

/** Encrypts and frames; the nonce is random unless given (tests pin it). */
export function encodeFrame(input: FrameInput, keyHex: string, nonce: Buffer = randomBytes(NONCE_SIZE)): Buffer {
  if (nonce.length !== NONCE_SIZE) throw new RangeError(`nonce: ${nonce.length} bytes; expected ${NONCE_SIZE}`);
  const type = FRAME_TYPES.indexOf(input.type);
  if (type < 0) throw new RangeError(`type: ${JSON.stringify(input.type)} is not one of ${FRAME_TYPES.join(', ')}`);
  if (!Number.isSafeInteger(input.deviceTs) || input.deviceTs < 0) throw new RangeError(`deviceTs: ${input.deviceTs} is not a non-negative integer`);
  const plain = encodePayload({ blastId: input.blastId, items: input.items });
  const frame = Buffer.alloc(HEADER_SIZE + plain.length + TAG_SIZE);
  frame.writeUInt16BE(MAGIC, 0);
  frame.writeUInt8(FORMAT_VERSION, 2);
  frame.writeUInt8(type + 1, 3);
  frame.writeUInt32BE(uint(input.site, 32, 'site'), 4);
  frame.writeUInt32BE(uint(input.device, 32, 'device'), 8);
  frame.writeUInt32BE(uint(input.seq, 32, 'seq'), 12);
  frame.writeBigUInt64BE(BigInt(input.deviceTs), 16);
  frame.writeUInt16BE(plain.length, 24); // GCM: ciphertext length = plaintext length
  nonce.copy(frame, 26);
  const cipher = createCipheriv('aes-256-gcm', key(keyHex), nonce, { authTagLength: TAG_SIZE });
  cipher.setAAD(frame.subarray(0, HEADER_SIZE));
  const sealed = Buffer.concat([cipher.update(plain), cipher.final()]);
  sealed.copy(frame, HEADER_SIZE);
  cipher.getAuthTag().copy(frame, HEADER_SIZE + sealed.length);
  return frame;
}

// ---- read the header (no key needed: ingest routes and checks framing with it) --------------

export function readHeader(buf: Buffer): FrameHeader {
  if (buf.length > MAX_FRAME) throw new FrameError(`frame larger than ${MAX_FRAME} bytes`);
  if (buf.length < HEADER_SIZE) throw new FrameError('truncated');
  if (buf.readUInt16BE(0) !== MAGIC) throw new FrameError('bad magic');
  const version = buf.readUInt8(2);
  if (version !== FORMAT_VERSION) throw new FrameError(`unknown format version ${version}`);
  const code = buf.readUInt8(3);
  const type = FRAME_TYPES[code - 1];
  if (type === undefined) throw new FrameError(`unknown frame type ${code}`);
  const length = buf.readUInt16BE(24);
  const size = HEADER_SIZE + length + TAG_SIZE;
  if (buf.length !== size) throw new FrameError(`length mismatch: header says ${size}, frame has ${buf.length}`);
  return {
    version,
    type,
    site: buf.readUInt32BE(4),
    device: buf.readUInt32BE(8),
    seq: buf.readUInt32BE(12),
    deviceTs: Number(buf.readBigUInt64BE(16)),
    length,
    nonce: Buffer.from(buf.subarray(26, HEADER_SIZE)),
  };
}

// ---- decode ---------------------------------------------------------------------------------

export function decodeFrame(buf: Buffer, keyHex: string): DecodedFrame {
  const header = readHeader(buf);
  const decipher = createDecipheriv('aes-256-gcm', key(keyHex), header.nonce, { authTagLength: TAG_SIZE });
  decipher.setAAD(buf.subarray(0, HEADER_SIZE));
  decipher.setAuthTag(buf.subarray(HEADER_SIZE + header.length));
  let plain: Buffer;
  try {
    plain = Buffer.concat([decipher.update(buf.subarray(HEADER_SIZE, HEADER_SIZE + header.length)), decipher.final()]);
  } catch {
    // GCM cannot tell a wrong key from a flipped bit; either way nothing of the payload is trusted.
    throw new FrameError('authentication failed (wrong key or tampered frame)');
  }
  const { blastId, items } = decodePayload(plain);
  return { header, blastId, items };
}

// ---- batches: frames each preceded by a 4-byte big-endian length ----------------------------

/**
 * Splits a batch body. Only the framing of the batch itself fails the whole batch (a length
 * running past the end, too many frames); a frame of a bad size is returned as is, so ingest can
 * reject it by index with readHeader's reason while accepting its neighbours.
 */
export function splitBatch(body: Buffer): Buffer[] {
  if (body.length === 0) throw new FrameError('empty batch');
  const frames: Buffer[] = [];
  let at = 0;
  while (at < body.length) {
    if (frames.length === MAX_BATCH_FRAMES) throw new FrameError(`batch has more than ${MAX_BATCH_FRAMES} frames`);
    if (body.length - at < 4) throw new FrameError(`batch truncated: frame ${frames.length} needs a 4-byte length, ${body.length - at} bytes left`);
    const length = body.readUInt32BE(at);
    at += 4;
    if (length > body.length - at) throw new FrameError(`batch truncated: frame ${frames.length} says ${length} bytes, ${body.length - at} left`);
    frames.push(body.subarray(at, at + length));
    at += length;
  }
  return frames;
}

export function joinBatch(frames: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of frames) {
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(f.length, 0);
    parts.push(prefix, f);
  }
  return Buffer.concat(parts);
}

/** The 32-byte AES key; a malformed key is a configuration bug (the fleet loader checks keys). */
function key(keyHex: string): Buffer {
  if (!/^[0-9a-fA-F]{64}$/.test(keyHex)) throw new TypeError('key must be 64 hex characters');
  return Buffer.from(keyHex, 'hex');
}
