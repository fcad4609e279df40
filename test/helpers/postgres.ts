/**
 * PostgreSQL for tests: each test gets a database of its own, created on the server at
 * DATABASE_URL (default the local one, user postgres) and dropped when the test ends.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** What the helpers need of a tap Test (a bench passes its own). */
export interface Teardown {
  teardown(fn: () => unknown): void;
}

export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  /** Connection string of the test's own database. */
  url: string;
  name: string;
  /** A pool on that database; ended at teardown. */
  pool: pg.Pool;
}

export async function testDatabase(t: Teardown): Promise<TestDatabase> {
  const name = `hydra_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(DATABASE_URL);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 4 });
  // pool.end() resolves before its idle clients have closed, so the forced DROP below can cut one
  // (57P01, admin shutdown); unheard, that 'error' would crash the test after it passed.
  pool.on('error', (err: Error & { code?: string }) => {
    if (err.code !== '57P01') throw err;
  });
  t.teardown(async () => {
    await pool.end();
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    try {
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    } finally {
      await client.end();
    }
  });
  return { url: url.toString(), name, pool };
}
