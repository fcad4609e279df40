/**
 * The one database handle type the scheduler's functions take (a pool, or a client the caller
 * already holds, e.g. inside its own transaction), and the two ways to use it: one connection,
 * or one transaction. Nothing here relies on session state that outlives a transaction, so all
 * of it works through PgBouncer in transaction pooling.
 */
import pg from 'pg';

export type Db = pg.Pool | pg.ClientBase;

/** Runs fn on one connection: the given client, or one checked out of the pool and returned. */
export async function withClient<T>(db: Db, fn: (client: pg.ClientBase) => Promise<T>): Promise<T> {
  if (!(db instanceof pg.Pool)) return fn(db);
  const client = await db.connect();
  // A checked-out client has no pool listener: a connection cut between two statements (a
  // transaction's) would be an uncaught 'error' that kills the node daemon (seen by the chaos
  // test's PostgreSQL cut). The statement then in flight or next fails with it instead, and the
  // broken connection is destroyed rather than handed back to the pool.
  let broken: Error | undefined;
  const onError = (err: Error) => (broken = err);
  client.on('error', onError);
  try {
    return await fn(client);
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

/** Runs fn inside BEGIN … COMMIT on one connection; any throw rolls back and is rethrown. */
export async function inTransaction<T>(db: Db, fn: (client: pg.ClientBase) => Promise<T>): Promise<T> {
  return withClient(db, async (client) => {
    await client.query('BEGIN');
    try {
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      // A failed ROLLBACK (connection gone) must not hide the original error.
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  });
}
