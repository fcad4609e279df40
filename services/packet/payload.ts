/**
 * The plaintext payload of a frame (docs/packet-format.md, "Payload"): blast id, record count and
 * 14-byte records. Wire units are integers (centivolts, milliohms); ItemRecord carries volts and
 * ohms, so a value survives a round trip only if it is a whole number of wire units.
 */
import { ITEM_STATUSES, type ItemRecord } from '../messages.js';
import { FrameError } from './errors.js';

export const PAYLOAD_HEAD = 6;
export const RECORD_SIZE = 14;
export const MAX_RECORDS = 1000;

/** Status codes in wire order: the index is the byte. */

export interface Payload {
  blastId: number;
  items: ItemRecord[];
}

export function encodePayload({ blastId, items }: Payload): Buffer {
  if (items.length > MAX_RECORDS) throw new RangeError(`items: ${items.length} records; at most ${MAX_RECORDS} fit a frame`);
  const buf = Buffer.alloc(PAYLOAD_HEAD + RECORD_SIZE * items.length);
  buf.writeUInt32BE(uint(blastId, 32, 'blastId'), 0);
  buf.writeUInt16BE(items.length, 4);
  items.forEach((r, i) => {
    const at = PAYLOAD_HEAD + RECORD_SIZE * i;
    const status = ITEM_STATUSES.indexOf(r.status);
    if (status < 0) throw new RangeError(`items[${i}].status: ${JSON.stringify(r.status)} is not one of ${ITEM_STATUSES.join(', ')}`);
    buf.writeUInt32BE(uint(r.item, 32, `items[${i}].item`), at);
    buf.writeUInt8(status, at + 4);
    buf.writeUInt8(uint(r.faultCode, 8, `items[${i}].faultCode`), at + 5);
    buf.writeUInt16BE(uint(Math.round(r.voltage * 100), 16, `items[${i}].voltage (centivolts)`), at + 6);
    buf.writeUInt16BE(uint(Math.round(r.resistance * 1000), 16, `items[${i}].resistance (milliohms)`), at + 8);
    buf.writeUInt32BE(uint(r.delayMs, 32, `items[${i}].delayMs`), at + 10);
  });
  return buf;
}

export function decodePayload(buf: Buffer): Payload {
  if (buf.length < PAYLOAD_HEAD) throw new FrameError(`payload length ${buf.length} is shorter than its ${PAYLOAD_HEAD}-byte head`);
  const count = buf.readUInt16BE(4);
  if (count > MAX_RECORDS) throw new FrameError(`record count over ${MAX_RECORDS}`);
  const expected = PAYLOAD_HEAD + RECORD_SIZE * count;
  if (buf.length !== expected) throw new FrameError(`payload length ${buf.length} does not match ${count} records (expected ${expected})`);
  const items: ItemRecord[] = [];
  for (let i = 0; i < count; i++) {
    const at = PAYLOAD_HEAD + RECORD_SIZE * i;
    const code = buf.readUInt8(at + 4);
    const status = ITEM_STATUSES[code];
    if (status === undefined) throw new FrameError(`unknown status ${code}`);
    items.push({
      item: buf.readUInt32BE(at),
      status,
      faultCode: buf.readUInt8(at + 5),
      voltage: buf.readUInt16BE(at + 6) / 100,
      resistance: buf.readUInt16BE(at + 8) / 1000,
      delayMs: buf.readUInt32BE(at + 10),
    });
  }
  return { blastId: buf.readUInt32BE(0), items };
}

/** An unsigned integer of `bits` bits, or a RangeError naming the field (a caller's bug, not bad input). */
export function uint(value: number, bits: 8 | 16 | 32, field: string): number {
  const max = 2 ** bits - 1;
  if (!Number.isInteger(value) || value < 0 || value > max) throw new RangeError(`${field}: ${value} is not an integer in 0..${max}`);
  return value;
}
