/**
 * scheduler/store/db.ts: a connection cut between two statements of a transaction (PostgreSQL
 * restarted, a network cut) fails the transaction with the reason instead of crashing the
 * process with an unhandled 'error', and the broken connection is not handed out again.
 */
import pg from 'pg';
import t from 'tap';
import { inTransaction } from '../../core/pgTransaction.js';
import { testDatabase } from '../helpers/postgres.js';

t.test('a connection cut mid-transaction fails it, without an uncaught error; the pool goes on', async (t) => {
  const db = await testDatabase(t);
  const pool = new pg.Pool({ connectionString: db.url, max: 1 });
  pool.on('error', () => undefined);
  t.teardown(() => pool.end());
  let pid = 0;
  await t.rejects(
    inTransaction(pool, async (client) => {
      pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      await db.pool.query('SELECT pg_terminate_backend($1)', [pid]);
      // The server's goodbye arrives while no statement runs: the client emits 'error' now.
      await new Promise((r) => setTimeout(r, 300));
      await client.query('SELECT 1');
    }),
    /terminat|Connection/i,
    'the next statement fails with the reason',
  );
  const again = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  t.not(again.rows[0]!.pid, pid, 'the pool opened a new connection instead of reusing the broken one');
});
