/**
 * `hydra token create|list|revoke` (scheduler/cli/tokenCommands.ts) as a user runs it, on a
 * migrated database of the test's own: the token is printed once and only its SHA-256 is
 * stored, list never shows a secret, revoke marks it and is audited, and bad values are usage
 * errors (exit 2) naming them.
 */
import { createHash } from 'node:crypto';
import t from 'tap';
import { parseApiToken } from '../../runtime/apiToken.js';
import { expiryOf } from '../../scheduler/cli/tokenCommands.js';
import { cliDatabase, hydra } from './schedulerCli.js';

t.test('create shows the token once and stores only its hash; list hides it; revoke marks it', async (t) => {
  const db = await cliDatabase(t);
  const token = (...args: string[]) => hydra({ DATABASE_URL: db.url }, 'token', ...args);

  const made = await token('create', '--role', 'viewer', '--name', 'wall screen', '--expires', '30d');
  t.equal(made.code, 0, made.stderr);
  const shown = /^\s+(hydra_\S+)$/m.exec(made.stdout)?.[1];
  t.ok(shown, `the token is printed: ${made.stdout}`);
  t.match(made.stdout, /only time it is shown/);
  const parsed = parseApiToken(shown!)!;
  t.ok(parsed, 'in the hydra_<id>_<secret> format');

  const { rows } = await db.pool.query<{ id: string; name: string; role: string; secret_sha256: Buffer; expires_at: Date; created_by: string }>('SELECT * FROM api_tokens');
  t.equal(rows.length, 1);
  t.match(rows[0], { id: parsed.id, name: 'wall screen', role: 'viewer', created_by: /^cli@/ });
  t.same(rows[0]!.secret_sha256, createHash('sha256').update(parsed.secret).digest(), 'the SHA-256 of the secret is stored');
  const everything = JSON.stringify((await db.pool.query('SELECT * FROM api_tokens')).rows) + JSON.stringify((await db.pool.query('SELECT * FROM audit_events')).rows);
  t.notOk(everything.includes(parsed.secret), 'the secret itself is stored nowhere (tokens, audit)');
  const days = (rows[0]!.expires_at.getTime() - Date.now()) / 86_400_000;
  t.ok(days > 29.9 && days <= 30, `expires in 30 days (${days})`);

  const op = await token('create', '--role', 'operator', '--json');
  t.equal(op.code, 0, op.stderr);
  const opJson = JSON.parse(op.stdout) as { id: string; role: string; token: string; name: string; expiresAt: null };
  t.match(opJson, { role: 'operator', name: 'operator token', expiresAt: null, token: /^hydra_/ });

  const list = await token('list');
  t.equal(list.code, 0, list.stderr);
  t.match(list.stdout, /wall screen/);
  t.notOk(list.stdout.includes(parsed.secret) || list.stdout.includes(shown!), 'list never shows a secret');
  const listed = JSON.parse((await token('list', '--json')).stdout) as Array<Record<string, unknown>>;
  t.equal(listed.length, 2);
  t.notOk(JSON.stringify(listed).includes(parsed.secret), 'nor does list --json');
  t.same(listed.map((x) => x.status), ['active', 'active']);
  t.notOk('token' in listed[0]! || 'secretSha256' in listed[0]!, 'no secret fields');

  const revoked = await token('revoke', parsed.id);
  t.equal(revoked.code, 0, revoked.stderr);
  t.match(revoked.stdout, new RegExp(`revoked viewer token ${parsed.id}`));
  t.same((JSON.parse((await token('list', '--json')).stdout) as Array<{ id: string; status: string }>).find((x) => x.id === parsed.id)?.status, 'revoked');
  const audit = await db.pool.query<{ kind: string; subject: string }>("SELECT kind, subject FROM audit_events WHERE kind LIKE 'token.%' ORDER BY id");
  t.same(audit.rows.map((r) => r.kind), ['token.created', 'token.created', 'token.revoked']);

  const unknown = await token('revoke', 'zzzzzzzzzzzz');
  t.equal(unknown.code, 1);
  t.match(unknown.stderr, /no API token zzzzzzzzzzzz/);
});

t.test('usage errors exit 2 and name the bad value', async (t) => {
  const token = (...args: string[]) => hydra({ DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' }, 'token', ...args);
  const cases: Array<[string[], RegExp]> = [
    [['create'], /--role is required; expected viewer or operator/],
    [['create', '--role', 'admin'], /--role: 'admin' is invalid; expected viewer or operator/],
    [['create', '--role', 'viewer', '--expires', 'soon'], /--expires: 'soon' is invalid; expected a duration such as 30d/],
    [['create', '--role', 'viewer', '--expires', '2001-01-01'], /--expires: '2001-01-01' is in the past/],
    [['create', '--role', 'viewer', '--name', ''], /--name: '' is invalid/],
    [['create', '--role', 'viewer', '--bogus'], /unknown option '--bogus'/],
    [['revoke'], /missing ID/],
    [['revoke', 'Robert'], /ID: 'Robert' is invalid; expected a token id of 12/],
  ];
  for (const [args, message] of cases) {
    const r = await token(...args);
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
    t.match(r.stderr, message, `${args.join(' ')}: ${r.stderr.split('\n')[0]}`);
  }
});

t.test('expiry values', async (t) => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  t.equal(expiryOf('12h', now).toISOString(), '2026-01-01T12:00:00.000Z');
  t.equal(expiryOf('90m', now).toISOString(), '2026-01-01T01:30:00.000Z');
  t.equal(expiryOf('2026-02-01T00:00:00Z', now).toISOString(), '2026-02-01T00:00:00.000Z');
  t.throws(() => expiryOf('0d', now), { name: 'UsageError' });
});
