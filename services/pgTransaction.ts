/**
 * One transaction on a client checked out of a service's pool. A checked-out client has no pool
 * error listener: without one here, a connection cut between two statements (PostgreSQL
 * restarted, network down) is an uncaught 'error' that kills the instance. The statement in
 * flight or next fails with it instead, and that failure is what the caller sees and retries;
 * a connection that failed is destroyed, not handed out again.
 */
import type pg from 'pg';

export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (err: Error) => (broken = err);
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    broken ??= err as Error;
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}
