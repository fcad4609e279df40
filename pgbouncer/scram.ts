/**
 * SCRAM-SHA-256 secrets as PostgreSQL stores them (RFC 5803 form):
 * `SCRAM-SHA-256$<iterations>:<salt b64>$<StoredKey b64>:<ServerKey b64>`.
 * boot.sh makes the secret here and sends only it to PostgreSQL (`ALTER ROLE … PASSWORD
 * '<secret>'`), so the plain password never reaches the server or its logs; and it checks that a
 * role's stored secret belongs to the password in hydra.env without logging in (a `trust` line
 * in pg_hba would let any password in).
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

export interface ScramSecret {
  iterations: number;
  salt: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

const FORM = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2}):([A-Za-z0-9+/]+={0,2})$/;

/** null when `text` is not a SCRAM-SHA-256 secret (an md5 hash, a plain password…). */
export function parseScram(text: string): ScramSecret | null {
  const m = FORM.exec(text.trim());
  if (!m) return null;
  const [iterations, salt, storedKey, serverKey] = [Number(m[1]), Buffer.from(m[2]!, 'base64'), Buffer.from(m[3]!, 'base64'), Buffer.from(m[4]!, 'base64')];
  if (iterations < 1 || storedKey.length !== 32 || serverKey.length !== 32) return null;
  return { iterations, salt, storedKey, serverKey };
}

function keys(password: string, salt: Buffer, iterations: number): { storedKey: Buffer; serverKey: Buffer } {
  // PostgreSQL applies SASLprep; the passwords boot.sh generates are ASCII, for which it is the identity.
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  return { storedKey: createHash('sha256').update(clientKey).digest(), serverKey: createHmac('sha256', salted).update('Server Key').digest() };
}

/** A new secret for `password` (4096 iterations, PostgreSQL's default; 16 random salt bytes). */
export function makeScram(password: string, iterations = 4096, salt: Buffer = randomBytes(16)): string {
  const k = keys(password, salt, iterations);
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${k.storedKey.toString('base64')}:${k.serverKey.toString('base64')}`;
}

/** Whether `secret` was made from `password`. */
export function scramMatches(secret: string, password: string): boolean {
  const s = parseScram(secret);
  if (!s) return false;
  const k = keys(password, s.salt, s.iterations);
  return timingSafeEqual(k.storedKey, s.storedKey) && timingSafeEqual(k.serverKey, s.serverKey);
}
