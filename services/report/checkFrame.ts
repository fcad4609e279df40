/**
 * Checks a consumed entry before it touches blast progress or a report: `packet.parsed@1` with a
 * well-formed body (services/messages.ts). Anything else can never be handled, so the caller
 * dead-letters it with the reason this throws (`body.items[3].status: 'boom' is not one of …`)
 * rather than rethrowing, which would retry it maxDeliveries times first.
 */
import type { Envelope } from '../../channels/index.js';
import type { FrameType, ItemRecord, ItemStatus, PacketParsedV1 } from '../messages.js';

export const FRAME_TYPES: readonly FrameType[] = ['status', 'arm', 'fire', 'complete', 'abort', 'fault'];
export const ITEM_STATUSES: readonly ItemStatus[] = ['unknown', 'connected', 'armed', 'fired', 'misfire', 'fault'];
const UINT32_MAX = 4_294_967_295;

export class FrameError extends Error {
  override readonly name = 'FrameError';
}

/** The frame type of `m`, checked first: status frames are skipped without reading their items. */
export function frameTypeOf(m: Envelope): FrameType {
  if (m.type !== 'packet.parsed' || m.v !== 1) throw new FrameError(`unexpected message type ${m.type}@${m.v}; report consumes packet.parsed@1`);
  const b = object(m.body, 'body');
  if (typeof b.frameType !== 'string' || !(FRAME_TYPES as readonly string[]).includes(b.frameType)) {
    throw new FrameError(`body.frameType: ${JSON.stringify(b.frameType) ?? typeof b.frameType} is not one of ${FRAME_TYPES.join(', ')}`);
  }
  return b.frameType as FrameType;
}

/** The body of `m` as a checked PacketParsedV1; throws FrameError naming the first bad field. */
export function checkFrame(m: Envelope): PacketParsedV1 {
  const frameType = frameTypeOf(m);
  const b = m.body as Record<string, unknown>;
  if (!Array.isArray(b.items)) throw new FrameError(`body.items: expected an array, got ${JSON.stringify(b.items) ?? typeof b.items}`);
  const items = b.items.map((raw: unknown, i) => record(raw, `body.items[${i}]`));
  const seen = new Set<number>();
  for (const [i, r] of items.entries()) {
    // Two records of one detonator in one frame: which is its status? Refused rather than guessed.
    if (seen.has(r.item)) throw new FrameError(`body.items[${i}].item: detonator ${r.item} appears twice in the frame`);
    seen.add(r.item);
  }
  return {
    site: uint32(b.site, 'body.site'),
    device: uint32(b.device, 'body.device'),
    seq: uint32(b.seq, 'body.seq'),
    deviceTs: nonNegative(b.deviceTs, 'body.deviceTs'),
    frameType,
    blastId: uint32(b.blastId, 'body.blastId'),
    rawId: typeof b.rawId === 'string' ? b.rawId : '',
    items,
  };
}

function record(raw: unknown, at: string): ItemRecord {
  const r = object(raw, at);
  if (typeof r.status !== 'string' || !(ITEM_STATUSES as readonly string[]).includes(r.status)) {
    throw new FrameError(`${at}.status: ${JSON.stringify(r.status) ?? typeof r.status} is not one of ${ITEM_STATUSES.join(', ')}`);
  }
  return {
    item: uint32(r.item, `${at}.item`),
    status: r.status as ItemStatus,
    faultCode: nonNegative(r.faultCode, `${at}.faultCode`),
    voltage: finite(r.voltage, `${at}.voltage`),
    resistance: finite(r.resistance, `${at}.resistance`),
    delayMs: uint32(r.delayMs, `${at}.delayMs`),
  };
}

function object(value: unknown, at: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new FrameError(`${at}: expected an object, got ${JSON.stringify(value) ?? typeof value}`);
  return value as Record<string, unknown>;
}

function uint32(value: unknown, at: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > UINT32_MAX) throw new FrameError(`${at}: ${JSON.stringify(value) ?? typeof value} is not an unsigned 32-bit integer`);
  return value;
}

function nonNegative(value: unknown, at: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new FrameError(`${at}: ${JSON.stringify(value) ?? typeof value} is not a non-negative integer`);
  return value;
}

function finite(value: unknown, at: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new FrameError(`${at}: ${JSON.stringify(value) ?? typeof value} is not a number`);
  return value;
}
