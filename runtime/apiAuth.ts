/**
 * Checks a request's API token (apiToken.ts) against the `api_tokens` table on DATABASE_URL,
 * for the routes, WebSocket and SSE endpoints that need a viewer or an operator. Answers are
 * cached per token for AUTH_CACHE_MS, so a busy stream does not query PostgreSQL per request;
 * that is also the bound on how long a revoked token keeps working on an instance. An expiry is
 * checked on every request (the cached row carries it). While the database cannot be reached, a
 * token this instance has already checked keeps its last answer (reads of live state survive a
 * PostgreSQL outage; a revocation made during it takes effect when it ends); any other token,
 * and every token without DATABASE_URL or without the api_tokens table, answers 503.
 *
 * `pg` is imported on the first check, so services whose routes are all public or device-only
 * never load it.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Pool } from 'pg';
import { messageOf } from '../core/errors.js';
import { bearerOf, parseApiToken, roleSuffices, secretHash, secretMatches, type ApiRole } from './apiToken.js';

/** How long a token's row is trusted before it is read again: a revoked token stops working within this. */
export const AUTH_CACHE_MS = 10_000;
/** Cached rows kept at most; past it the cache starts over (garbage tokens cannot grow it without bound). */
const CACHE_LIMIT = 10_000;

export interface AuthFailure {
  status: 401 | 403 | 503;
  reason: string;
}

export interface ApiAuth {
  /** null when the request's token is valid with at least `needed`; else why not. */
  check(headers: IncomingHttpHeaders, needed: ApiRole): Promise<AuthFailure | null>;
  close(): Promise<void>;
}

interface TokenRow {
  role: ApiRole;
  secret_sha256: Buffer;
  expires_at: Date | null;
  revoked_at: Date | null;
}

export function apiAuthFromEnv(env: NodeJS.ProcessEnv, now: () => number = Date.now): ApiAuth {
  const url = env.DATABASE_URL?.trim();
  let pool: Promise<Pool> | undefined;
  const cache = new Map<string, { row: TokenRow | null; at: number }>();

  const poolOf = (databaseUrl: string): Promise<Pool> =>
    (pool ??= import('pg').then(({ default: pg }) => {
      const p = new pg.Pool({ connectionString: databaseUrl, max: 2, idleTimeoutMillis: 30_000, allowExitOnIdle: true, connectionTimeoutMillis: 1_000, query_timeout: 1_000 });
      p.on('error', () => undefined);
      return p;
    }));

  const inFlight = new Map<string, Promise<TokenRow | null>>();

  const lookUp = async (id: string, secret: string): Promise<TokenRow | null> => {
    const p = await poolOf(url!);
    const { rows } = await p.query<TokenRow>('SELECT role, secret_sha256, expires_at, revoked_at FROM api_tokens WHERE id = $1', [id]);
    const row = rows[0] && secretMatches(secret, rows[0].secret_sha256) ? rows[0] : null;
    // When it was last used, to within the cache time: for `hydra token list` and audits.
    if (row && row.revoked_at === null) p.query('UPDATE api_tokens SET last_used_at = now() WHERE id = $1', [id]).catch(() => undefined);
    return row;
  };

  const rowOf = async (id: string, secret: string): Promise<TokenRow | null> => {
    const key = `${id}:${secretHash(secret).toString('hex')}`;
    const hit = cache.get(key);
    if (hit && now() - hit.at < AUTH_CACHE_MS) return hit.row;
    // One query per token at a time, however many requests carry it.
    let pending = inFlight.get(key);
    if (!pending) {
      pending = lookUp(id, secret).finally(() => inFlight.delete(key));
      inFlight.set(key, pending);
    }
    try {
      const row = await pending;
      if (cache.size >= CACHE_LIMIT) cache.clear();
      cache.set(key, { row, at: now() });
      return row;
    } catch (err) {
      // The database is away: a token this instance has already checked keeps its last answer
      // (live state must stay readable through a PostgreSQL outage), asked again AUTH_CACHE_MS later.
      if (!hit) throw err;
      cache.set(key, { row: hit.row, at: now() });
      return hit.row;
    }
  };

  return {
    async check(headers, needed) {
      const token = bearerOf(headers);
      if (token === null) return { status: 401, reason: `an API token with role ${needed} is required: send Authorization: Bearer <token> (hydra token create)` };
      const parsed = parseApiToken(token);
      if (parsed === null) return { status: 401, reason: 'the bearer token is not a Hydra API token (hydra_<id>_<secret>)' };
      if (!url) return { status: 503, reason: 'this instance has no DATABASE_URL to check API tokens against' };
      let row: TokenRow | null;
      try {
        row = await rowOf(parsed.id, parsed.secret);
      } catch (err) {
        const missing = (err as { code?: string }).code === '42P01';
        return { status: 503, reason: missing ? "API tokens cannot be checked: the database has no api_tokens table; run 'hydra db migrate'" : `API tokens cannot be checked: ${messageOf(err)}` };
      }
      if (row === null) return { status: 401, reason: `API token ${parsed.id} is unknown or its secret is wrong` };
      if (row.revoked_at !== null) return { status: 401, reason: `API token ${parsed.id} was revoked` };
      if (row.expires_at !== null && row.expires_at.getTime() <= now()) return { status: 401, reason: `API token ${parsed.id} expired at ${row.expires_at.toISOString()}` };
      if (!roleSuffices(row.role, needed)) return { status: 403, reason: `API token ${parsed.id} is a ${row.role} token; this needs ${needed}` };
      return null;
    },
    async close() {
      const p = pool;
      pool = undefined;
      if (p) await (await p).end().catch(() => undefined);
    },
  };
}
