/**
 * The API token format, one rule for the CLI that makes tokens and the runtime that checks
 * them: `hydra_<id>_<secret>`, id 12 lower-case letters and digits (the row's key, so a check
 * is one lookup by primary key), secret 32 random bytes in base64url. Only the secret's SHA-256
 * is stored: the secret is random with 256 bits, so there is no dictionary to try and a slow
 * password hash would only slow every request. Secrets are compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Who may call a route: anyone, a device (the service checks its own device token), or an API token of at least this role. */
export type RouteAuth = 'public' | 'device' | 'viewer' | 'operator';
export type ApiRole = 'viewer' | 'operator';
export const API_ROLES: readonly ApiRole[] = ['viewer', 'operator'];

const PREFIX = 'hydra_';
const ID = /^[a-z0-9]{12}$/;
const SECRET = /^[A-Za-z0-9_-]{43}$/;

export interface ParsedApiToken {
  id: string;
  secret: string;
}

/** A new token: its id, the whole token (shown once), and the hash to store. */
export function newApiToken(): { id: string; token: string; secretSha256: Buffer } {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const id = [...randomBytes(12)].map((b) => alphabet[b % alphabet.length]).join('');
  const secret = randomBytes(32).toString('base64url');
  return { id, token: `${PREFIX}${id}_${secret}`, secretSha256: secretHash(secret) };
}

/** `hydra_<id>_<secret>` → its parts; null for anything else (never throws on client input). */
export function parseApiToken(token: string): ParsedApiToken | null {
  if (!token.startsWith(PREFIX)) return null;
  const id = token.slice(PREFIX.length, PREFIX.length + 12);
  const secret = token.slice(PREFIX.length + 13);
  if (token[PREFIX.length + 12] !== '_' || !ID.test(id) || !SECRET.test(secret)) return null;
  return { id, secret };
}

export function secretHash(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** Whether `secret` hashes to `stored`, in time independent of where they differ. */
export function secretMatches(secret: string, stored: Buffer): boolean {
  const hash = secretHash(secret);
  return stored.length === hash.length && timingSafeEqual(hash, stored);
}

/** Whether `role` is allowed where `needed` is required (operator may do what a viewer may). */
export function roleSuffices(role: ApiRole, needed: ApiRole): boolean {
  return role === 'operator' || needed === 'viewer';
}

/** The bearer token of a request: `Authorization: Bearer …`, else the `hydra_token` cookie (browsers' EventSource and WebSocket cannot set headers). */
export function bearerOf(headers: { authorization?: string; cookie?: string }): string | null {
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(headers.authorization ?? '');
  if (m) return m[1]!;
  for (const part of (headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === 'hydra_token') return decodeURIComponentSafe(part.slice(eq + 1).trim());
  }
  return null;
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
