/**
 * Reading consumer-group state from Redis: XINFO GROUPS answers as flat [key, value, …]
 * arrays, and its `lag` is null when Redis cannot derive it (entries deleted past a group's
 * position, or a group created at an arbitrary id); then the lag is counted with XRANGE.
 */
import type { Redis } from 'ioredis';
import type { GroupState } from '../transport.js';

export interface RedisGroupInfo extends GroupState {
  lastDeliveredId: string;
}

export async function readGroups(redis: Redis, key: string): Promise<RedisGroupInfo[]> {
  let rows: unknown[];
  try {
    rows = (await redis.xinfo('GROUPS', key)) as unknown[];
  } catch (err) {
    if (/no such key/i.test((err as Error).message)) return [];
    throw err;
  }
  const groups: RedisGroupInfo[] = [];
  for (const row of rows) {
    const info = pairs(row as unknown[]);
    const lastDeliveredId = String(info['last-delivered-id'] ?? '0-0');
    const lagValue = info.lag;
    const lag = lagValue === null || lagValue === undefined ? await countAfter(redis, key, lastDeliveredId) : Number(lagValue);
    groups.push({ name: String(info.name), pending: Number(info.pending ?? 0), lag, lastDeliveredId });
  }
  return groups;
}

/** The id of the oldest entry in a group's pending list, or null when nothing is pending. */
export async function oldestPending(redis: Redis, key: string, group: string): Promise<string | null> {
  const summary = (await redis.xpending(key, group)) as [number, string | null, string | null, unknown];
  return summary[0] > 0 ? summary[1] : null;
}

function pairs(flat: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = flat[i + 1];
  return out;
}

async function countAfter(redis: Redis, key: string, afterId: string): Promise<number> {
  let count = 0;
  let start = `(${afterId}`;
  for (;;) {
    const page = (await redis.xrange(key, start, '+', 'COUNT', 1000)) as Array<[string, string[]]>;
    count += page.length;
    if (page.length < 1000) return count;
    start = `(${page[page.length - 1]![0]}`;
  }
}
