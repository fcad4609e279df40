/** Closing a Redis connection without hanging on a server that is gone. */
import type { Redis } from 'ioredis';

/** QUIT waits for the server, forever when it is unreachable: give it a second, then drop the socket. */
export async function quitOrDrop(redis: Redis): Promise<void> {
  if (redis.status !== 'ready') return redis.disconnect();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([redis.quit().catch(() => undefined), new Promise((r) => (timer = setTimeout(r, 1_000)))]);
  clearTimeout(timer);
  redis.disconnect();
}
