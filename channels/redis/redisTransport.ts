/**
 * The Redis Streams transport: one stream per channel (`<prefix><channel>`), its dead letters
 * in `<prefix><channel>:dead`, the names of its declared consumer groups in the set
 * `<prefix><channel>:groups`. Durable and shared across processes and nodes.
 */
import { Redis } from 'ioredis';
import { ChannelError } from '../errors.js';
import type { EntryFields } from '../envelope.js';
import { nextStreamId, compareStreamIds } from '../streamId.js';
import type { DeadLetter, GroupCursor, GroupState, Transport } from '../transport.js';
import * as dead from './deadLetters.js';
import { oldestPending, readGroups } from './groupInfo.js';
import { RedisCursor } from './redisCursor.js';
import { quitOrDrop } from './quitOrDrop.js';
import { runScript } from './runScript.js';

/**
 * XTRIM MAXLEN only for a stream nobody has to read: no declared group (KEYS[2]) and no
 * consumer group at all (XINFO STREAM's `groups`). KEYS[1] the stream, ARGV[1] the length kept.
 */
const TRIM_UNREAD_TO_LENGTH = `
if redis.call('SCARD', KEYS[2]) > 0 then return 0 end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
for i = 1, #info, 2 do
  if info[i] == 'groups' and tonumber(info[i + 1]) > 0 then return 0 end
end
return redis.call('XTRIM', KEYS[1], 'MAXLEN', ARGV[1])
`;

export interface RedisTransportOptions {
  /** redis://[:password@]host:port[/db]; defaults to REDIS_URL, then redis://127.0.0.1:6379. */
  url?: string;
  /** Prepended to every key, so tests and tenants never see each other's streams. */
  keyPrefix?: string;
  /**
   * The most dead letters a channel keeps (default DEAD_LETTER_MAXLEN): past it the oldest go, so
   * a poison stream cannot fill Redis's memory (and with maxmemory + noeviction, stop every write).
   */
  deadLetterMaxLen?: number;
}

export const DEAD_LETTER_MAXLEN = 100_000;

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export function createRedisTransport(options: RedisTransportOptions = {}): Transport {
  return new RedisTransport(options);
}

class RedisTransport implements Transport {
  readonly kind = 'redis' as const;
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly cursors = new Set<GroupCursor>();
  private closed = false;
  private readonly deadLetterMaxLen: number;

  constructor(options: RedisTransportOptions) {
    this.prefix = options.keyPrefix ?? '';
    this.deadLetterMaxLen = options.deadLetterMaxLen ?? DEAD_LETTER_MAXLEN;
    this.redis = new Redis(options.url ?? process.env.REDIS_URL ?? DEFAULT_REDIS_URL, { lazyConnect: false });
    // ioredis reconnects by itself; commands in flight fail with their own errors.
    this.redis.on('error', () => undefined);
  }

  async append(channel: string, entries: EntryFields[]): Promise<string[]> {
    this.assertOpen(channel);
    if (entries.length === 0) return [];
    const key = this.key(channel);
    const pipeline = this.redis.pipeline();
    for (const fields of entries) pipeline.xadd(key, '*', ...Object.entries(fields).flat());
    const results = (await pipeline.exec()) ?? [];
    return results.map(([err, id], i) => {
      if (err) throw new ChannelError(channel, `XADD of entry ${i} failed: ${err.message}`, { cause: err });
      return String(id);
    });
  }

  async length(channel: string): Promise<number> {
    this.assertOpen(channel);
    return this.redis.xlen(this.key(channel));
  }

  async groups(channel: string): Promise<GroupState[]> {
    this.assertOpen(channel);
    return (await readGroups(this.redis, this.key(channel))).map(({ name, pending, lag }) => ({ name, pending, lag }));
  }

  async declareGroups(channel: string, groups: string[]): Promise<void> {
    this.assertOpen(channel);
    if (groups.length > 0) await this.redis.sadd(this.groupsKey(channel), ...groups);
  }

  async undeclareGroups(channel: string, groups: string[]): Promise<void> {
    this.assertOpen(channel);
    if (groups.length > 0) await this.redis.srem(this.groupsKey(channel), ...groups);
  }

  async declaredGroups(channel: string): Promise<string[]> {
    this.assertOpen(channel);
    return (await this.redis.smembers(this.groupsKey(channel))).sort();
  }

  async trim(channel: string): Promise<number> {
    this.assertOpen(channel);
    const key = this.key(channel);
    // A declared group not created yet will read from the start: it holds every entry back.
    const declared = await this.redis.smembers(this.groupsKey(channel));
    const groups = await readGroups(this.redis, key);
    if (groups.length === 0) return 0;
    const existing = new Set(groups.map((g) => g.name));
    if (declared.some((name) => !existing.has(name))) return 0;
    // A group has acknowledged everything below its oldest pending entry, or when nothing is
    // pending, everything up to its last delivered id. Floors only ever move forward, so a
    // floor read here can only be lower than the current one: trimming by it is always safe.
    let floor: string | null = null;
    for (const g of groups) {
      const groupFloor = g.pending > 0 ? ((await oldestPending(this.redis, key, g.name)) ?? nextStreamId(g.lastDeliveredId)) : nextStreamId(g.lastDeliveredId);
      if (floor === null || compareStreamIds(groupFloor, floor) < 0) floor = groupFloor;
    }
    return Number(await this.redis.xtrim(key, 'MINID', floor!));
  }

  async trimToLength(channel: string, maxLen: number): Promise<number> {
    this.assertOpen(channel);
    // One script: a group declared or created between a check and the trim cannot lose entries.
    return Number(await runScript(this.redis, TRIM_UNREAD_TO_LENGTH, [this.key(channel), this.groupsKey(channel)], [String(maxLen)]));
  }

  async deadLetters(channel: string, count: number): Promise<DeadLetter[]> {
    this.assertOpen(channel);
    return dead.newestDeadLetters(this.redis, this.deadKeys(channel), count);
  }

  async deadLettersAfter(channel: string, afterId: string, count: number): Promise<DeadLetter[]> {
    this.assertOpen(channel);
    return dead.deadLettersAfter(this.redis, this.deadKeys(channel), afterId, count);
  }

  async deadLetterCount(channel: string): Promise<number> {
    this.assertOpen(channel);
    return dead.deadLetterCount(this.redis, this.deadKeys(channel));
  }

  async readDeadLetter(channel: string, deadId: string): Promise<DeadLetter | null> {
    this.assertOpen(channel);
    return dead.readDeadLetter(this.redis, this.deadKeys(channel), deadId);
  }

  async replayDeadLetter(channel: string, deadId: string): Promise<string | false> {
    this.assertOpen(channel);
    return dead.replayDeadLetter(this.redis, this.deadKeys(channel), deadId);
  }

  async discardDeadLetter(channel: string, deadId: string): Promise<boolean> {
    this.assertOpen(channel);
    return dead.discardDeadLetter(this.redis, this.deadKeys(channel), deadId);
  }

  cursor(channel: string, group: string, consumer: string): GroupCursor {
    this.assertOpen(channel);
    const cursor = new RedisCursor(this.redis, channel, this.key(channel), this.deadKey(channel), group, consumer, (c) => this.key(c), this.deadLetterMaxLen);
    this.cursors.add(cursor);
    return cursor;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.cursors].map((c) => c.close()));
    await quitOrDrop(this.redis);
  }

  private key(channel: string): string {
    return `${this.prefix}${channel}`;
  }

  private deadKey(channel: string): string {
    return `${this.prefix}${channel}:dead`;
  }

  private groupsKey(channel: string): string {
    return `${this.prefix}${channel}:groups`;
  }

  private deadKeys(channel: string): dead.DeadKeys {
    return { channel, key: this.key(channel), deadKey: this.deadKey(channel) };
  }

  private assertOpen(channel: string): void {
    if (this.closed) throw new ChannelError(channel, 'transport is closed');
  }
}

