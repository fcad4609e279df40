/**
 * PgBouncer's templates and renderer: settings and a role's SCRAM secret in, pgbouncer.ini and
 * userlist out; a real PgBouncer started on the render lets the right password through (SCRAM),
 * refuses a wrong one, pools in transaction mode, and shows the stats user SHOW CLIENTS/STATS.
 * `hydra pgbouncer render` writes only what changed and checks the secret against DATABASE_URL.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import t from 'tap';
import { PgbouncerRenderError, renderPgbouncer, type PgbouncerInput } from '../../pgbouncer/renderPgbouncer.js';
import { makeScram, parseScram, scramMatches } from '../../pgbouncer/scram.js';
import { DATABASE_URL, testDatabase } from '../helpers/postgres.js';
import { freePort } from '../helpers/supervisedService.js';
import { waitFor } from '../helpers/wait.js';
import { hydra } from '../node/nodeProcess.js';
import { tempDir } from '../nginx/nginxHarness.js';

const SECRET = makeScram('correct horse', 4096, Buffer.alloc(16, 7));

function input(more: Partial<PgbouncerInput> = {}): PgbouncerInput {
  return {
    database: 'hydra',
    serverHost: '127.0.0.1',
    serverPort: 5432,
    listenAddr: '127.0.0.1',
    listenPort: 6432,
    unixSocketDir: '/var/run/postgresql',
    authFile: '/etc/pgbouncer/userlist.txt',
    users: [{ name: 'hydra', secret: SECRET }],
    statsUsers: ['hydra'],
    logFile: '/var/log/postgresql/pgbouncer.log',
    pidFile: '/var/run/postgresql/pgbouncer.pid',
    ...more,
  };
}

t.test('settings and the SCRAM secret in, pgbouncer.ini and userlist out', async (t) => {
  const { ini, userlist } = renderPgbouncer(input());
  t.match(ini, /\[databases\]\nhydra = host=127\.0\.0\.1 port=5432 dbname=hydra\n/);
  t.match(ini, /^pool_mode = transaction$/m);
  t.match(ini, /^auth_type = scram-sha-256$/m);
  t.match(ini, /^auth_file = \/etc\/pgbouncer\/userlist\.txt$/m);
  t.match(ini, /^listen_addr = 127\.0\.0\.1$/m);
  t.match(ini, /^listen_port = 6432$/m);
  t.match(ini, /^stats_users = hydra$/m);
  t.match(userlist, `"hydra" "${SECRET}"`);
  t.notMatch(userlist, /correct horse/, 'no plain password');
  t.same(renderPgbouncer(input()), { ini, userlist }, 'same input, same text');
});

t.test('bad input is refused with the field', async (t) => {
  t.throws(() => renderPgbouncer(input({ users: [{ name: 'hydra', secret: 'md5abc' }] })), new PgbouncerRenderError('users[0].secret', '<secret>', `the role's SCRAM-SHA-256 secret from pg_authid (set its password with password_encryption = scram-sha-256)`));
  t.throws(() => renderPgbouncer(input({ database: 'a b' })), { message: /^database: "a b" is invalid/ });
  t.throws(() => renderPgbouncer(input({ listenPort: 0 })), { message: /^listenPort: 0 is invalid/ });
  t.throws(() => renderPgbouncer(input({ logFile: 'rel.log' })), { message: /^logFile: "rel\.log" is invalid/ });
});

t.test("a secret PostgreSQL made from a password matches it; one made here is PostgreSQL's form", async (t) => {
  const admin = new pg.Client({ connectionString: DATABASE_URL });
  await admin.connect();
  t.teardown(() => admin.end());
  const role = `hydra_scram_${randomBytes(4).toString('hex')}`;
  t.teardown(() => admin.query(`DROP ROLE IF EXISTS ${role}`));
  await admin.query("SET password_encryption = 'scram-sha-256'");
  await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD 'p4ss-word'`);
  const made = (await admin.query<{ s: string }>('SELECT rolpassword AS s FROM pg_authid WHERE rolname = $1', [role])).rows[0]!.s;
  t.ok(scramMatches(made, 'p4ss-word'));
  t.notOk(scramMatches(made, 'other'));
  const ours = makeScram('p4ss-word');
  await admin.query(`ALTER ROLE ${role} PASSWORD '${ours}'`);
  t.equal((await admin.query<{ s: string }>('SELECT rolpassword AS s FROM pg_authid WHERE rolname = $1', [role])).rows[0]!.s, ours, 'stored as given: the plain password never reached the server');
  t.equal(parseScram('md5deadbeef'), null);
});

t.test('a real PgBouncer on the render: SCRAM in front, transaction pooling, SHOW CLIENTS for the stats user', async (t) => {
  if (spawnSync('which', ['pgbouncer']).status !== 0) return t.fail('pgbouncer is not installed: apt-get install pgbouncer (.ci/run does)');
  const db = await testDatabase(t);
  const dir = tempDir(t, 'pgbouncer');
  const admin = new pg.Client({ connectionString: DATABASE_URL });
  await admin.connect();
  t.teardown(() => admin.end());
  const role = `hydra_pgb_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD '${makeScram(password)}'`);
  t.teardown(() => admin.query(`DROP ROLE IF EXISTS ${role}`));
  const secret = (await admin.query<{ s: string }>('SELECT rolpassword AS s FROM pg_authid WHERE rolname = $1', [role])).rows[0]!.s;
  const server = new URL(DATABASE_URL);
  const port = await freePort();
  const files = renderPgbouncer(
    input({
      database: db.name,
      serverHost: server.hostname,
      serverPort: Number(server.port || 5432),
      listenPort: port,
      unixSocketDir: '',
      authFile: path.join(dir, 'userlist.txt'),
      users: [{ name: role, secret }],
      statsUsers: [role],
      poolSize: 1,
      logFile: path.join(dir, 'pgbouncer.log'),
      pidFile: path.join(dir, 'pgbouncer.pid'),
    }),
  );
  writeFileSync(path.join(dir, 'pgbouncer.ini'), files.ini);
  writeFileSync(path.join(dir, 'userlist.txt'), files.userlist);
  const root = process.getuid?.() === 0;
  if (root) {
    // pgbouncer refuses to run as root: it runs as postgres, which must read the files.
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout);
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout);
    for (const f of ['', 'pgbouncer.ini', 'userlist.txt']) chownSync(path.join(dir, f), uid, gid);
  }
  const proc = spawn('pgbouncer', [...(root ? ['-u', 'postgres'] : []), path.join(dir, 'pgbouncer.ini')], { stdio: 'ignore' });
  const exited = new Promise((r) => proc.once('exit', r));
  t.teardown(async () => {
    proc.kill('SIGTERM');
    await exited;
  });
  const url = (user: string, pass: string, database: string) => `postgres://${user}:${pass}@127.0.0.1:${port}/${database}`;
  const connect = async (u: string) => {
    const c = new pg.Client({ connectionString: u });
    c.on('error', () => undefined);
    await c.connect();
    return c;
  };
  const client = await waitFor('pgbouncer to accept the right password', () => connect(url(role, password, db.name)).catch(() => null), 10_000, 100);
  t.teardown(() => client.end());
  t.same((await client.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
  await t.rejects(connect(url(role, 'wrong', db.name)), /password authentication failed|SASL|auth/i, 'a wrong password is refused');
  // Transaction pooling with a pool of one: two clients share the one server connection.
  const second = await connect(url(role, password, db.name));
  t.teardown(() => second.end());
  const pids = new Set([(await client.query('SELECT pg_backend_pid() AS p')).rows[0].p, (await second.query('SELECT pg_backend_pid() AS p')).rows[0].p]);
  t.equal(pids.size, 1, 'both clients were served by the same server connection');
  const console = await connect(url(role, password, 'pgbouncer'));
  t.teardown(() => console.end());
  const clients = (await console.query('SHOW CLIENTS')).rows as Array<{ database: string; user: string }>;
  t.equal(clients.filter((c) => c.database === db.name && c.user === role).length, 2, 'SHOW CLIENTS lists both');
  const stats = (await console.query('SHOW STATS')).rows as Array<{ database: string; total_query_count: string }>;
  t.ok(Number(stats.find((s) => s.database === db.name)?.total_query_count ?? 0) >= 3, 'SHOW STATS counts their queries');
  t.match(readFileSync(path.join(dir, 'pgbouncer.log'), 'utf8'), /process up/);
});

t.test('hydra pgbouncer render writes what changed, checks, and refuses a secret of another password', async (t) => {
  const dir = tempDir(t, 'pgbouncer-cli');
  const password = 'secret-pw';
  const env = { DATABASE_URL: `postgres://hydra:${password}@127.0.0.1:6432/hydra` };
  const secret = makeScram(password);
  const run = (args: string[], stdin: string) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const p = spawn('env', ['-u', 'NODE_OPTIONS', path.join(import.meta.dirname, '../../bin/hydra'), 'pgbouncer', 'render', ...args], { env: { ...process.env, ...env } });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      p.on('exit', (code) => resolve({ code, stdout, stderr }));
      p.stdin.end(stdin);
    });
  const first = await run(['--secret-stdin', '--dir', dir], secret);
  t.equal(first.code, 0, first.stderr);
  t.match(first.stdout, /pgbouncer\.ini: created, .*userlist\.txt: created/);
  t.equal(statSync(path.join(dir, 'userlist.txt')).mode & 0o777, 0o640, 'the userlist is not world-readable');
  t.match(readFileSync(path.join(dir, 'pgbouncer.ini'), 'utf8'), /^listen_port = 6432$/m);
  t.same(await run(['--secret-stdin', '--dir', dir, '--check'], secret), { code: 0, stdout: `pgbouncer config in ${dir} is current\n`, stderr: '' });
  const again = await run(['--secret-stdin', '--dir', dir], secret);
  t.match(again.stdout, /is current/);
  const other = await run(['--secret-stdin', '--dir', dir, '--check'], makeScram('another'));
  t.equal(other.code, 1);
  t.match(other.stderr, /does not belong to DATABASE_URL's password for role hydra/);
  const usage = await hydra(env, 'pgbouncer', 'render', '--dir', dir);
  t.equal(usage.code, 2);
  t.match(usage.stderr, /--secret-stdin is required/);
});
