/**
 * How the `hydra channel …` commands reach a node's channels: REDIS_URL and HYDRA_KEY_PREFIX,
 * with the node's defaults (node/config.ts: redis://127.0.0.1:6379 and `hydra:`), so
 * on a node the commands see what its services see without any variable set. A bad variable is
 * an error naming it; an unreachable Redis fails within seconds, instead of ioredis retrying.
 *
 * The node's own parsing is not reused: it is private to node/config.ts, which also
 * checks every other node variable, and channels/ imports nothing of supervisor/.
 */
import { redactUrl } from '../../core/redactUrl.js';
import { Redis } from 'ioredis';
import { Channel, type ChannelOptions } from '../channel.js';
import { quitOrDrop } from '../redis/quitOrDrop.js';
import { createRedisTransport, DEFAULT_REDIS_URL } from '../redis/redisTransport.js';

/** What node/config.ts defaults HYDRA_KEY_PREFIX to. */
export const DEFAULT_KEY_PREFIX = 'hydra:';
const CONNECT_TIMEOUT_MS = 3_000;

type Env = Record<string, string | undefined>;

export interface RedisSettings {
  url: string;
  keyPrefix: string;
}

/** An empty variable counts as unset, as for the node. */
function get(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

export function redisSettings(env: Env = process.env): RedisSettings {
  const url = get(env, 'REDIS_URL') ?? DEFAULT_REDIS_URL;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`REDIS_URL: '${url}' is not a URL; expected e.g. ${DEFAULT_REDIS_URL}`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new Error(`REDIS_URL: '${redactUrl(url, 'REDIS_URL')}' has scheme '${parsed.protocol}'; expected redis: or rediss: (e.g. ${DEFAULT_REDIS_URL})`);
  }
  const keyPrefix = get(env, 'HYDRA_KEY_PREFIX') ?? DEFAULT_KEY_PREFIX;
  if (/\s/.test(keyPrefix)) throw new Error(`HYDRA_KEY_PREFIX: '${keyPrefix}' contains white space; expected a Redis key prefix such as ${DEFAULT_KEY_PREFIX}`);
  return { url, keyPrefix };
}


/**
 * One connection attempt, no retries, a few seconds at most: the transport's client would
 * retry for half a minute and more before failing a command, which reads as a hang.
 */
async function probe(url: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: CONNECT_TIMEOUT_MS, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  // connect() rejects with only "Connection is closed."; the reason (ECONNREFUSED, ETIMEDOUT,
  // ENOTFOUND) comes as an 'error' event just before.
  let cause: Error | undefined;
  redis.on('error', (err: Error) => (cause = err));
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    const e = (cause ?? err) as Error & { code?: string };
    throw new Error(`cannot reach Redis at ${redactUrl(url, 'REDIS_URL')} (REDIS_URL): ${e.message || e.code || e.name}; is redis-server running there?`);
  } finally {
    await quitOrDrop(redis);
  }
}

/** Runs fn with the named channel on the Redis of REDIS_URL, and closes the connection afterwards. */
export async function withRedisChannel<T>(name: string, options: ChannelOptions, fn: (channel: Channel, settings: RedisSettings) => Promise<T>): Promise<T> {
  const settings = redisSettings();
  await probe(settings.url);
  const transport = createRedisTransport({ url: settings.url, keyPrefix: settings.keyPrefix });
  try {
    return await fn(new Channel(transport, name, { retentionIntervalMs: 0, ...options }), settings);
  } finally {
    await transport.close();
  }
}
