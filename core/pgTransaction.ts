/**
 * The one way Hydra runs PostgreSQL work on one connection or in one transaction, for the
 * scheduler, deploy, the node and the services alike. `Db` is a pool or a client the caller
 * already holds (e.g. inside its own transaction). Nothing here relies on session state that
 * outlives a transaction, so all of it works through PgBouncer in transaction pooling.
 */
import pg from 'pg';

export type Db = pg.Pool | pg.ClientBase;

/** Marks the connection in hand as unusable: it is destroyed instead of going back to the pool. */
type MarkBroken = (err: Error) => void;

/** Runs fn on one connection: the given client, or one checked out of the pool and returned. */
export async function withClient<T>(db: Db, fn: (client: pg.ClientBase) => Promise<T>): Promise<T> {
  return onConnection(db, (client) => fn(client));
}

/**
 * Runs fn inside BEGIN … COMMIT on one connection; any throw rolls back and is rethrown. A
 * connection goes back to the pool after a statement error whose ROLLBACK succeeded; one whose
 * ROLLBACK failed is in an unknown state and is destroyed.
 */
export async function inTransaction<T>(db: Db, fn: (client: pg.ClientBase) => Promise<T>): Promise<T> {
  return onConnection(db, async (client, markBroken) => {
    await client.query('BEGIN');
    try {
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      // A failed ROLLBACK (connection gone) must not hide the original error.
      await client.query('ROLLBACK').catch(markBroken);
      throw err;
    }
  });
}

async function onConnection<T>(db: Db, fn: (client: pg.ClientBase, markBroken: MarkBroken) => Promise<T>): Promise<T> {
  if (!(db instanceof pg.Pool)) return fn(db, () => undefined);
  const client = await db.connect();
  // A checked-out client has no pool listener: a connection cut between two statements (a
  // transaction's) would be an uncaught 'error' that kills the process (seen by the chaos
  // test's PostgreSQL cut). The statement then in flight or next fails with it instead, and the
  // broken connection is destroyed rather than handed back to the pool.
  let broken: Error | undefined;
  const markBroken = (err: Error) => (broken ??= err);
  client.on('error', markBroken);
  try {
    return await fn(client, markBroken);
  } finally {
    client.off('error', markBroken);
    client.release(broken);
  }
}
