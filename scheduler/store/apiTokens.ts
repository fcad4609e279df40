/**
 * The one owner of `api_tokens`: makes a token (the secret leaves this module once, in the
 * answer of createApiToken, and only its SHA-256 is stored), lists them without secrets, and
 * revokes one. Each change is audited in the same transaction. The format and the hash are
 * runtime/apiToken.ts's, shared with the runtime that checks the tokens.
 */
import { inTransaction } from '../../core/pgTransaction.js';
import type { Db } from '../../core/pgTransaction.js';
import { newApiToken, type ApiRole } from '../../runtime/apiToken.js';
import { recordAudit } from './audit.js';

export interface ApiTokenInfo {
  id: string;
  name: string;
  role: ApiRole;
  createdBy: string;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}

export interface NewApiToken {
  role: ApiRole;
  name: string;
  expiresAt: Date | null;
  actor: string;
}

interface Row {
  id: string;
  name: string;
  role: ApiRole;
  created_by: string;
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
}

const COLUMNS = 'id, name, role, created_by, created_at, expires_at, revoked_at, last_used_at';

function infoOf(r: Row): ApiTokenInfo {
  return { id: r.id, name: r.name, role: r.role, createdBy: r.created_by, createdAt: r.created_at, expiresAt: r.expires_at, revokedAt: r.revoked_at, lastUsedAt: r.last_used_at };
}

/** Stores a new token's hash; answers the token itself, which nothing keeps. */
export async function createApiToken(db: Db, spec: NewApiToken): Promise<{ token: string; info: ApiTokenInfo }> {
  const made = newApiToken();
  const info = await inTransaction(db, async (tx) => {
    const { rows } = await tx.query<Row>(
      `INSERT INTO api_tokens (id, name, role, secret_sha256, created_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${COLUMNS}`,
      [made.id, spec.name, spec.role, made.secretSha256, spec.actor, spec.expiresAt],
    );
    await recordAudit(tx, { actor: spec.actor, kind: 'token.created', subject: made.id, detail: { name: spec.name, role: spec.role, expiresAt: spec.expiresAt?.toISOString() ?? null } });
    return infoOf(rows[0]!);
  });
  return { token: made.token, info };
}

export async function listApiTokens(db: Db): Promise<ApiTokenInfo[]> {
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM api_tokens ORDER BY created_at, id`);
  return rows.map(infoOf);
}

/** Revokes token `id`; null when there is no such token. Revoking twice keeps the first time. */
export async function revokeApiToken(db: Db, id: string, actor: string): Promise<ApiTokenInfo | null> {
  return inTransaction(db, async (tx) => {
    const { rows } = await tx.query<Row>(`UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING ${COLUMNS}`, [id]);
    if (rows.length === 0) return null;
    await recordAudit(tx, { actor, kind: 'token.revoked', subject: id, detail: { name: rows[0]!.name, role: rows[0]!.role } });
    return infoOf(rows[0]!);
  });
}
