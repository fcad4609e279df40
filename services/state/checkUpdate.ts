/**
 * Checks a consumed entry before it touches the state: `packet.parsed@1` with a well-formed body
 * (services/messages.ts). Anything else can never be applied, so the caller dead-letters it with
 * the reason this returns (`body.items[3].status: 'boom' is not one of …`) rather than throwing,
 * which would retry it maxDeliveries times first.
 */
import type { Envelope } from '../../channels/index.js';
import type { ItemRecord, PacketParsedV1 } from '../messages.js';
import { ITEM_STATUSES, SelectorError, uint32 } from './selector.js';

export class UpdateError extends Error {
  override readonly name = 'UpdateError';
}

/** The body of `m` as a checked PacketParsedV1; throws UpdateError naming the first bad field. */
export function checkUpdate(m: Envelope): PacketParsedV1 {
  if (m.type !== 'packet.parsed' || m.v !== 1) throw new UpdateError(`unexpected message type ${m.type}@${m.v}; state consumes packet.parsed@1`);
  const b = object(m.body, 'body');
  const items = b.items;
  if (!Array.isArray(items)) throw new UpdateError(`body.items: expected an array, got ${typeof items}`);
  return {
    site: id(b.site, 'body.site'),
    device: id(b.device, 'body.device'),
    seq: id(b.seq, 'body.seq'),
    deviceTs: nonNegative(b.deviceTs, 'body.deviceTs'),
    frameType: b.frameType as PacketParsedV1['frameType'],
    blastId: typeof b.blastId === 'number' ? b.blastId : 0,
    rawId: typeof b.rawId === 'string' ? b.rawId : '',
    items: items.map((raw: unknown, i) => record(raw, `body.items[${i}]`)),
  };
}

function record(raw: unknown, at: string): ItemRecord {
  const r = object(raw, at);
  if (typeof r.status !== 'string' || !(ITEM_STATUSES as readonly string[]).includes(r.status)) {
    throw new UpdateError(`${at}.status: ${JSON.stringify(r.status)} is not one of ${ITEM_STATUSES.join(', ')}`);
  }
  return {
    item: id(r.item, `${at}.item`),
    status: r.status as ItemRecord['status'],
    faultCode: nonNegative(r.faultCode, `${at}.faultCode`),
    voltage: finite(r.voltage, `${at}.voltage`),
    resistance: finite(r.resistance, `${at}.resistance`),
    delayMs: id(r.delayMs, `${at}.delayMs`),
  };
}

function object(value: unknown, at: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new UpdateError(`${at}: expected an object, got ${JSON.stringify(value) ?? typeof value}`);
  return value as Record<string, unknown>;
}

function id(value: unknown, at: string): number {
  // Numbers only: a digit string here would mean a producer that does not follow messages.ts.
  if (typeof value !== 'number') throw new UpdateError(`${at}: expected a number, got ${JSON.stringify(value) ?? typeof value}`);
  try {
    return uint32(at, value);
  } catch (err) {
    throw new UpdateError((err as SelectorError).message);
  }
}

function nonNegative(value: unknown, at: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new UpdateError(`${at}: ${JSON.stringify(value) ?? typeof value} is not a non-negative integer`);
  return value;
}

function finite(value: unknown, at: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new UpdateError(`${at}: ${JSON.stringify(value) ?? typeof value} is not a number`);
  return value;
}
