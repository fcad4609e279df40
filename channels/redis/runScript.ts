/**
 * Runs a Lua script by its SHA1 (EVALSHA), sending the source (EVAL) only when Redis does not
 * have it cached: after a restart, a SCRIPT FLUSH, or on a server that never saw it (NOSCRIPT).
 * Both are one atomic command, so a resend by ioredis after a lost reply runs the script again
 * from the top; the scripts themselves are written to make a second run a no-op.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

const shas = new Map<string, string>();

function sha1(script: string): string {
  let sha = shas.get(script);
  if (sha === undefined) shas.set(script, (sha = createHash('sha1').update(script).digest('hex')));
  return sha;
}

export async function runScript(redis: Redis, script: string, keys: string[], args: string[]): Promise<unknown> {
  try {
    return await redis.evalsha(sha1(script), keys.length, ...keys, ...args);
  } catch (err) {
    if (!/NOSCRIPT/.test((err as Error).message)) throw err;
    return redis.eval(script, keys.length, ...keys, ...args);
  }
}
