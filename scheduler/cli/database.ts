/**
 * The CLI's one way to the scheduler's database: DATABASE_URL, read when a command needs it,
 * one client per command, and the errors people get when it is missing, unreachable or not
 * migrated yet, each in one line that never shows the password.
 */
import { messageOf } from '../../core/errors.js';
import { redactUrl } from '../../core/redactUrl.js';
import pg from 'pg';


export function databaseUrl(): string {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL: not set; expected a connection string such as postgres://user@host:5432/hydra');
  return url;
}

/** A connected client on DATABASE_URL; "cannot reach the database at <url>: <reason>" otherwise. */
export async function connectDatabase(): Promise<pg.Client> {
  const url = databaseUrl();
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  // An idle client that loses its server emits 'error'; unheard, that would crash the CLI.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw new Error(`cannot reach the database at ${redactUrl(url, 'DATABASE_URL')}: ${messageOf(err)}`);
  }
  return client;
}

/**
 * Runs fn with a connected client and closes it afterwards. A database without the scheduler's
 * tables (never migrated) fails the first query with "relation … does not exist", which does
 * not tell people what to do: that one is reworded.
 */
export async function withDatabase<T>(fn: (db: pg.Client) => Promise<T>): Promise<T> {
  const client = await connectDatabase();
  try {
    return await fn(client);
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') {
      throw new Error(`the database at ${redactUrl(databaseUrl(), 'DATABASE_URL')} has no scheduler schema (${messageOf(err)}); run 'hydra db migrate' first`);
    }
    throw err;
  } finally {
    await client.end().catch(() => undefined);
  }
}
