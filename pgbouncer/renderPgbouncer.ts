/**
 * PgBouncer's config of a node as a pure function: settings and the users' SCRAM secrets in,
 * the text of pgbouncer.ini and of its auth file (userlist.txt) out, from the plain templates in
 * pgbouncer/templates/. Same input, same text, so boot.sh can tell whether anything changed.
 */
import { readFileSync } from 'node:fs';
import { fill } from '../core/fill.js';
import { parseScram } from './scram.js';

export interface PgbouncerUser {
  name: string;
  /** `SCRAM-SHA-256$…` exactly as pg_authid holds it. */
  secret: string;
}

export interface PgbouncerInput {
  /** The one database pooled (the node's), same name on the server. */
  database: string;
  serverHost: string;
  serverPort: number;
  listenAddr: string;
  listenPort: number;
  /** Folder of the Unix socket; '' for none. */
  unixSocketDir: string;
  /** Where the rendered userlist lives (auth_file). */
  authFile: string;
  users: PgbouncerUser[];
  /** Users allowed SHOW commands on the admin console. */
  statsUsers: string[];
  poolSize?: number;
  maxClientConn?: number;
  maxDbConnections?: number;
  logFile: string;
  pidFile: string;
}

export interface PgbouncerFiles {
  ini: string;
  userlist: string;
}

export class PgbouncerRenderError extends Error {
  override readonly name = 'PgbouncerRenderError';
  constructor(field: string, value: unknown, expected: string) {
    super(`${field}: ${JSON.stringify(value) ?? String(value)} is invalid; expected ${expected}`);
  }
}

const load = (name: string) => readFileSync(new URL(`./templates/${name}`, import.meta.url), 'utf8');
export const TEMPLATES = { ini: load('pgbouncer.ini'), userlist: load('userlist.txt') };

const NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const HOST = /^[A-Za-z0-9.:-]+$/;
const PATH = /^(\/[^\s;#'"\\]*)?$/;

function check(ok: boolean, field: string, value: unknown, expected: string): void {
  if (!ok) throw new PgbouncerRenderError(field, value, expected);
}

function count(field: string, v: number | undefined, fallback: number): string {
  const n = v ?? fallback;
  check(Number.isInteger(n) && n >= 1 && n <= 100_000, field, n, 'a whole number from 1 to 100000');
  return String(n);
}

export function renderPgbouncer(input: PgbouncerInput, templates = TEMPLATES): PgbouncerFiles {
  check(NAME.test(input.database), 'database', input.database, 'a database name of [a-z0-9_]');
  check(HOST.test(input.serverHost), 'serverHost', input.serverHost, 'an IP address or host name');
  check(HOST.test(input.listenAddr), 'listenAddr', input.listenAddr, 'an IP address such as 127.0.0.1');
  for (const [field, p] of [['serverPort', input.serverPort], ['listenPort', input.listenPort]] as const) {
    check(Number.isInteger(p) && p > 0 && p <= 65535, field, p, 'a port from 1 to 65535');
  }
  for (const [field, p] of [['unixSocketDir', input.unixSocketDir], ['authFile', input.authFile], ['logFile', input.logFile], ['pidFile', input.pidFile]] as const) {
    check(PATH.test(p) && (field === 'unixSocketDir' || p !== ''), field, p, 'an absolute path without spaces, quotes, ; or #');
  }
  check(input.users.length > 0, 'users', input.users, 'at least one user');
  input.users.forEach((u, i) => {
    check(NAME.test(u.name), `users[${i}].name`, u.name, 'a role name of [a-z0-9_]');
    // A secret of another form (md5, plain) would make PgBouncer fall back to weaker auth or fail.
    check(parseScram(u.secret) !== null, `users[${i}].secret`, '<secret>', `the role's SCRAM-SHA-256 secret from pg_authid (set its password with password_encryption = scram-sha-256)`);
  });
  input.statsUsers.forEach((u, i) => check(NAME.test(u), `statsUsers[${i}]`, u, 'a role name of [a-z0-9_]'));
  const users = [...input.users].sort((a, b) => (a.name < b.name ? -1 : 1));
  return {
    ini: fill(templates.ini, {
      database: input.database,
      serverHost: input.serverHost,
      serverPort: String(input.serverPort),
      listenAddr: input.listenAddr,
      listenPort: String(input.listenPort),
      unixSocketDir: input.unixSocketDir,
      authFile: input.authFile,
      poolSize: count('poolSize', input.poolSize, 10),
      maxClientConn: count('maxClientConn', input.maxClientConn, 200),
      maxDbConnections: count('maxDbConnections', input.maxDbConnections, 40),
      statsUsers: input.statsUsers.join(','),
      logFile: input.logFile,
      pidFile: input.pidFile,
    }),
    userlist: fill(templates.userlist, { users: users.map((u) => `"${u.name}" "${u.secret.trim()}"`).join('\n') }),
  };
}
