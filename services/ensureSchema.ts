/** Creating a service's own tables from its schema.sql (CREATE … IF NOT EXISTS), at init. */
import { readFile } from 'node:fs/promises';
import type pg from 'pg';

/** Two instances starting at once may race on the catalog: retried once. */
export async function ensureSchema(pool: pg.Pool, schemaFile: URL): Promise<void> {
  const sql = await readFile(schemaFile, 'utf8');
  try {
    await pool.query(sql);
  } catch (err) {
    // 23505: a concurrent CREATE TABLE IF NOT EXISTS won the pg_type insert; the table exists now.
    if ((err as { code?: string }).code !== '23505') throw err;
    await pool.query(sql);
  }
}
