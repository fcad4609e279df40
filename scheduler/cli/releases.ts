/**
 * The two release look-ups the CLI needs (specs hold a release id, people give and read commits).
 * Read-only; releases are written by the deploy receiver. Kept here until a releases store
 * module exists.
 */
import type { Db } from '../store/db.js';

/** Release id → commit, for the ids given. */
export async function releaseCommits(db: Db, ids: number[]): Promise<Map<number, string>> {
  if (ids.length === 0) return new Map();
  const r = await db.query<{ id: string; commit: string }>('SELECT id, commit FROM releases WHERE id = ANY($1::bigint[])', [ids]);
  return new Map(r.rows.map((row) => [Number(row.id), row.commit]));
}

/**
 * The ready release a commit (or a unique prefix of 7+ hex digits) names. Throws an Error that
 * says what is wrong: unknown, ambiguous, still building or failed.
 */
export async function findReadyRelease(db: Db, ref: string): Promise<{ id: number; commit: string }> {
  const r = await db.query<{ id: string; commit: string; status: string; error: string | null }>('SELECT id, commit, status, error FROM releases WHERE commit LIKE $1 ORDER BY id DESC', [`${ref}%`]);
  if (r.rows.length === 0) throw new Error(`release '${ref}' is unknown; push it first ('git push <node> main')`);
  if (r.rows.length > 1) throw new Error(`release '${ref}' is ambiguous (${r.rows.map((x) => x.commit.slice(0, 12)).join(', ')}); give more of the commit id`);
  const rel = r.rows[0]!;
  if (rel.status !== 'ready') throw new Error(`release ${rel.commit.slice(0, 12)} is ${rel.status}${rel.error ? ` (${rel.error})` : ''}; only a ready release can be used`);
  return { id: Number(rel.id), commit: rel.commit };
}
