/**
 * The one check of a consumed `packet.parsed@1` (services/messages.ts), for every service that
 * consumes it (state, report): the envelope's type, then each field of the body, then each item
 * record. A body that fails can never be handled, so the caller dead-letters it with the
 * ParsedPacketError's message (`body.items[3].status: "boom" is not one of …`) rather than
 * throwing, which would retry it maxDeliveries times first.
 */
import type { Envelope } from '../channels/index.js';
import { FRAME_TYPES, ITEM_STATUSES, type FrameType, type ItemRecord, type ItemStatus, type PacketParsedV1 } from './messages.js';

const UINT32_MAX = 4_294_967_295;

export class ParsedPacketError extends Error {
  override readonly name = 'ParsedPacketError';
}

/**
 * The frame type of `m`, checked first, so a consumer can skip a type (report skips status
 * frames) without reading its items. `consumer` names the service in the wrong-type message.
 */
export function frameTypeOf(m: Envelope, consumer: string): FrameType {
  if (m.type !== 'packet.parsed' || m.v !== 1) throw new ParsedPacketError(`unexpected message type ${m.type}@${m.v}; ${consumer} consumes packet.parsed@1`);
  const b = object(m.body, 'body');
  if (typeof b.frameType !== 'string' || !(FRAME_TYPES as readonly string[]).includes(b.frameType)) {
    throw new ParsedPacketError(`body.frameType: ${JSON.stringify(b.frameType) ?? typeof b.frameType} is not one of ${FRAME_TYPES.join(', ')}`);
  }
  return b.frameType as FrameType;
}

/** The body of `m` as a checked PacketParsedV1; ParsedPacketError naming the first bad field. */
export function checkParsedPacket(m: Envelope, consumer: string): PacketParsedV1 {
  const frameType = frameTypeOf(m, consumer);
  const b = m.body as Record<string, unknown>;
  if (!Array.isArray(b.items)) throw new ParsedPacketError(`body.items: expected an array, got ${JSON.stringify(b.items) ?? typeof b.items}`);
  const items = b.items.map((raw: unknown, i) => record(raw, `body.items[${i}]`));
  const seen = new Set<number>();
  for (const [i, r] of items.entries()) {
    // Two records of one detonator in one frame: which is its status? Refused rather than guessed.
    if (seen.has(r.item)) throw new ParsedPacketError(`body.items[${i}].item: detonator ${r.item} appears twice in the frame`);
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
    throw new ParsedPacketError(`${at}.status: ${JSON.stringify(r.status) ?? typeof r.status} is not one of ${ITEM_STATUSES.join(', ')}`);
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
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ParsedPacketError(`${at}: expected an object, got ${JSON.stringify(value) ?? typeof value}`);
  return value as Record<string, unknown>;
}

function uint32(value: unknown, at: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > UINT32_MAX) throw new ParsedPacketError(`${at}: ${JSON.stringify(value) ?? typeof value} is not an unsigned 32-bit integer`);
  return value;
}

function nonNegative(value: unknown, at: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new ParsedPacketError(`${at}: ${JSON.stringify(value) ?? typeof value} is not a non-negative integer`);
  return value;
}

function finite(value: unknown, at: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new ParsedPacketError(`${at}: ${JSON.stringify(value) ?? typeof value} is not a number`);
  return value;
}
