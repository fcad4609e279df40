/**
 * The dead-letter stream of a Redis channel (`<prefix><channel>:dead`), as an operator sees it:
 * read (newest, a page, one, how many), replay into the channel, discard. The writing side,
 * moving a failed entry here with its acknowledgement, is RedisCursor.deadLetter.
 *
 * Each dead letter is a stream entry with the fields `originalId`, `group`, `consumer`,
 * `deliveries`, `error` and `fields` (the original entry's fields as JSON).
 */
import type { Redis } from 'ioredis';
import { ChannelError } from '../errors.js';
import type { EntryFields } from '../envelope.js';
import { parseStreamId } from '../streamId.js';
import type { DeadLetter } from '../transport.js';
import { REPLAY_DEAD_LETTER } from './replayDeadLetter.js';
import { runScript } from './runScript.js';

type XEntry = [string, string[]];

/** Where a channel's dead letters are and the channel's own stream. */
export interface DeadKeys {
  channel: string;
  /** The channel's stream. */
  key: string;
  /** Its dead-letter stream. */
  deadKey: string;
}

export async function newestDeadLetters(redis: Redis, k: DeadKeys, count: number): Promise<DeadLetter[]> {
  if (!(count > 0)) return []; // XREVRANGE COUNT 0 would mean "all"
  const rows = (await redis.xrevrange(k.deadKey, '+', '-', 'COUNT', Math.floor(count))) as XEntry[];
  return rows.reverse().map(toDeadLetter);
}

export async function deadLettersAfter(redis: Redis, k: DeadKeys, afterId: string, count: number): Promise<DeadLetter[]> {
  checkId(k.channel, afterId);
  if (!(count > 0)) return [];
  const rows = (await redis.xrange(k.deadKey, `(${afterId}`, '+', 'COUNT', Math.floor(count))) as XEntry[];
  return rows.map(toDeadLetter);
}

export async function deadLetterCount(redis: Redis, k: DeadKeys): Promise<number> {
  return redis.xlen(k.deadKey);
}

export async function readDeadLetter(redis: Redis, k: DeadKeys, deadId: string): Promise<DeadLetter | null> {
  checkId(k.channel, deadId);
  const [row] = (await redis.xrange(k.deadKey, deadId, deadId)) as XEntry[];
  return row ? toDeadLetter(row) : null;
}

export async function replayDeadLetter(redis: Redis, k: DeadKeys, deadId: string): Promise<string | false> {
  const dead = await readDeadLetter(redis, k, deadId);
  if (dead === null) return false;
  const flat = Object.entries(dead.fields).flat();
  if (flat.length === 0) throw new ChannelError(k.channel, `dead letter ${deadId} holds no entry fields, so there is nothing to replay; discard it instead`);
  const id = await runScript(redis, REPLAY_DEAD_LETTER, [k.deadKey, k.key], [deadId, ...flat]);
  return id === null ? false : String(id);
}

export async function discardDeadLetter(redis: Redis, k: DeadKeys, deadId: string): Promise<boolean> {
  checkId(k.channel, deadId);
  return (await redis.xdel(k.deadKey, deadId)) === 1;
}

function checkId(channel: string, id: string): void {
  try {
    parseStreamId(id);
  } catch {
    throw new ChannelError(channel, `'${id}' is not a dead-letter id (expected <ms>-<seq>, e.g. 1700000000000-0)`);
  }
}

function toDeadLetter([id, flat]: XEntry): DeadLetter {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i]!] = flat[i + 1]!;
  return {
    id,
    originalId: f.originalId ?? '',
    group: f.group ?? '',
    consumer: f.consumer ?? '',
    deliveries: Number(f.deliveries ?? 0),
    error: f.error ?? '',
    fields: parseFields(f.fields),
  };
}

/**
 * The original entry's fields. One not written by RedisCursor.deadLetter (by hand, not a JSON
 * object of strings) reads as no fields, so a listing still shows the rest and a replay refuses
 * it instead of publishing a part of it.
 */
function parseFields(json: string | undefined): EntryFields {
  let value: unknown;
  try {
    value = JSON.parse(json ?? '{}');
  } catch {
    return {};
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return {};
  const entries = Object.entries(value as Record<string, unknown>);
  return entries.every(([, v]) => typeof v === 'string') ? (Object.fromEntries(entries) as EntryFields) : {};
}
