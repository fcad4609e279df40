/**
 * The message envelope `{ id, type, v, ts, key?, body }`: validation of what a producer hands
 * in, and the encoding to and from the flat string fields a stream entry holds.
 *
 * `id` is the entry id the channel assigns on publish (monotonic within a channel), so
 * `(channel, id)` names a message everywhere: in logs, in dead letters, and in the idempotency
 * keys a consumer may store beside its effects.
 */
import { EnvelopeError } from './errors.js';

export interface Envelope<B = unknown> {
  id: string;
  type: string;
  /** Schema version of `body` for this `type`; consumers ask for the version they understand. */
  v: number;
  /** Producer time, epoch milliseconds. */
  ts: number;
  /** Optional partition/correlation key (device id, item id…). */
  key?: string;
  body: B;
}

/** What a producer publishes; the channel assigns `id` (and `ts` unless given). */
export interface OutgoingMessage<B = unknown> {
  type: string;
  v: number;
  ts?: number;
  key?: string;
  body: B;
}

/** A stream entry as stored: flat string fields, readable with XRANGE. */
export type EntryFields = Record<string, string>;

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

const TYPE_PATTERN = /^[a-z][a-z0-9_.-]{0,127}$/;

/** Parses `type@v` (as a service manifest writes it) into its parts. */
export function parseTypeRef(ref: string): { type: string; v: number } {
  const at = ref.lastIndexOf('@');
  if (at <= 0) throw new EnvelopeError('type', `'${ref}' is not of the form type@version (e.g. packet.raw@1)`);
  const type = ref.slice(0, at);
  const v = Number(ref.slice(at + 1));
  checkType(type);
  checkVersion(v, ref.slice(at + 1));
  return { type, v };
}

function checkType(type: unknown): asserts type is string {
  if (type === undefined || type === null || type === '') throw new EnvelopeError('type', 'is missing; every message needs a type such as packet.raw');
  if (typeof type !== 'string' || !TYPE_PATTERN.test(type)) {
    throw new EnvelopeError('type', `${JSON.stringify(type)} is not a type name (lower case letters, digits, '.', '_', '-'; starting with a letter)`);
  }
}

function checkVersion(v: unknown, shown: unknown = v): asserts v is number {
  if (v === undefined || v === null) throw new EnvelopeError('v', 'is missing; every message needs a schema version (a positive integer)');
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) {
    throw new EnvelopeError('v', `${JSON.stringify(shown)} is not a schema version (a positive integer)`);
  }
}

/**
 * Serialises a body strictly: JSON.stringify silently turns NaN into null and drops functions
 * and undefined members, which would corrupt data without a word. Here each of those is an
 * error naming the path of the bad value.
 */
export function serialiseBody(body: unknown): string {
  if (body === undefined) throw new EnvelopeError('body', 'is missing (undefined cannot be serialised; use null for "no body")');
  checkSerialisable(body, 'body', new Set());
  return JSON.stringify(body);
}

function checkSerialisable(value: unknown, path: string, seen: Set<object>): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new EnvelopeError(path, `${value} cannot be serialised as JSON`);
      return;
    case 'undefined':
    case 'function':
    case 'symbol':
    case 'bigint':
      throw new EnvelopeError(path, `a ${typeof value} cannot be serialised as JSON`);
    case 'object': {
      if (value === null) return;
      if (seen.has(value)) throw new EnvelopeError(path, 'is a circular reference');
      if (value instanceof Date) return;
      seen.add(value);
      if (Array.isArray(value)) value.forEach((item, i) => checkSerialisable(item, `${path}[${i}]`, seen));
      else if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) {
        throw new EnvelopeError(path, `a ${value.constructor?.name ?? 'class'} instance is not plain data; convert it to an object, array or string`);
      } else {
        for (const [k, item] of Object.entries(value)) {
          // undefined members are dropped by JSON and mean "absent"; allow them, as JSON does.
          if (item !== undefined) checkSerialisable(item, `${path}.${k}`, seen);
        }
      }
      seen.delete(value);
      return;
    }
  }
}

/** Validates an outgoing message and encodes it as stream entry fields. */
export function encodeMessage(msg: OutgoingMessage, now: number, maxBodyBytes = DEFAULT_MAX_BODY_BYTES): EntryFields {
  if (msg === null || typeof msg !== 'object') throw new EnvelopeError('message', `${JSON.stringify(msg)} is not a message object`);
  checkType(msg.type);
  checkVersion(msg.v);
  const ts = msg.ts ?? now;
  if (!Number.isFinite(ts) || ts < 0) throw new EnvelopeError('ts', `${JSON.stringify(msg.ts)} is not a time in epoch milliseconds`);
  if (msg.key !== undefined && (typeof msg.key !== 'string' || msg.key.length > 256)) {
    throw new EnvelopeError('key', `${JSON.stringify(msg.key)} is not a key (a string of at most 256 characters)`);
  }
  const body = serialiseBody(msg.body);
  if (Buffer.byteLength(body) > maxBodyBytes) {
    throw new EnvelopeError('body', `is ${Buffer.byteLength(body)} bytes serialised, over the limit of ${maxBodyBytes}; split it or raise maxBodyBytes`);
  }
  const fields: EntryFields = { type: msg.type, v: String(msg.v), ts: String(Math.trunc(ts)), body };
  if (msg.key !== undefined) fields.key = msg.key;
  return fields;
}

/** Decodes stream entry fields; a field that is missing or malformed is an EnvelopeError naming it. */
export function decodeEntry(id: string, fields: EntryFields): Envelope {
  checkType(fields.type);
  const v = fields.v === undefined ? undefined : Number(fields.v);
  checkVersion(v, fields.v);
  const ts = Number(fields.ts);
  if (fields.ts === undefined || !Number.isFinite(ts)) throw new EnvelopeError('ts', `${JSON.stringify(fields.ts)} is not a time in epoch milliseconds`);
  if (fields.body === undefined) throw new EnvelopeError('body', 'is missing from the stream entry');
  let body: unknown;
  try {
    body = JSON.parse(fields.body);
  } catch (err) {
    throw new EnvelopeError('body', `is not valid JSON (${(err as Error).message})`);
  }
  const env: Envelope = { id, type: fields.type, v, ts, body };
  if (fields.key !== undefined) env.key = fields.key;
  return env;
}
