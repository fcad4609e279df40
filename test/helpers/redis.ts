/**
 * Redis for tests: each test gets its own key prefix on the server at REDIS_URL (default the
 * local one), and every key under it is deleted when the test ends.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Teardown } from './postgres.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface TestRedis {
  url: string;
  prefix: string;
  /** A plain client for assertions and hand-written entries; closed at teardown. */
  redis: Redis;
}

export async function testRedis(t: Teardown): Promise<TestRedis> {
  const prefix = `hydra-test:${process.pid}:${randomBytes(4).toString('hex')}:`;
  const redis = new Redis(REDIS_URL);
  t.teardown(async () => {
    await deleteKeys(redis, `${prefix}*`);
    await redis.quit();
  });
  return { url: REDIS_URL, prefix, redis };
}

async function deleteKeys(redis: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}
