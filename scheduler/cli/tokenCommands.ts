/**
 * `hydra token create|list|revoke`: API tokens for people and programs that read the node
 * (viewer) or drive it (operator), stored in DATABASE_URL's `api_tokens` (scheduler/store/apiTokens.ts).
 * `create` prints the token once: only its hash is kept, so a lost token is revoked and
 * replaced, never shown again. `list` never shows secrets. Bad values are usage errors (exit 2)
 * naming the option and the value.
 */
import { EXIT_FAILURE, EXIT_OK, helpOr, parseCommandArgs, UsageError, type Command } from '../../core/cli.js';
import { formatTime, orDash, print, renderTable } from '../../core/table.js';
import { API_ROLES, type ApiRole } from '../../runtime/apiToken.js';
import { createApiToken, listApiTokens, revokeApiToken, type ApiTokenInfo } from '../store/apiTokens.js';
import { withDatabase } from './database.js';
import { cliActor } from './options.js';

const UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--expires 30d|12h|90m` from now, or an ISO 8601 time; it must lie in the future. */
export function expiryOf(raw: string, now = Date.now()): Date {
  const rel = /^(\d{1,6})([mhd])$/.exec(raw);
  const at = rel ? new Date(now + Number(rel[1]) * UNITS[rel[2]!]!) : /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(raw) ? new Date(raw) : new Date(NaN);
  if (Number.isNaN(at.getTime())) throw new UsageError(`--expires: '${raw}' is invalid; expected a duration such as 30d, 12h or 90m, or an ISO time such as 2027-01-31T00:00:00Z`);
  if (at.getTime() <= now) throw new UsageError(`--expires: '${raw}' is in the past (${at.toISOString()}); expected a time to come`);
  return at;
}

function roleOf(raw: string | undefined): ApiRole {
  if (raw === undefined) throw new UsageError(`--role is required; expected ${API_ROLES.join(' or ')}`);
  if (!(API_ROLES as readonly string[]).includes(raw)) throw new UsageError(`--role: '${raw}' is invalid; expected ${API_ROLES.join(' or ')}`);
  return raw as ApiRole;
}

function nameOf(raw: string | undefined, role: ApiRole): string {
  if (raw === undefined) return `${role} token`;
  if (raw.trim() === '' || raw.length > 100 || /[\u0000-\u001f]/.test(raw)) throw new UsageError(`--name: '${raw}' is invalid; expected 1 to 100 printable characters`);
  return raw;
}

function statusOf(t: ApiTokenInfo, now = Date.now()): string {
  if (t.revokedAt) return 'revoked';
  if (t.expiresAt && t.expiresAt.getTime() <= now) return 'expired';
  return 'active';
}

function jsonOf(t: ApiTokenInfo): Record<string, unknown> {
  return { ...t, status: statusOf(t), createdAt: t.createdAt.toISOString(), expiresAt: t.expiresAt?.toISOString() ?? null, revokedAt: t.revokedAt?.toISOString() ?? null, lastUsedAt: t.lastUsedAt?.toISOString() ?? null };
}

const createCommand: Command = {
  path: ['token', 'create'],
  summary: 'make an API token (viewer reads, operator also writes); printed once, only its hash is kept',
  usage: 'hydra token create --role viewer|operator [--name NAME] [--expires 30d|12h|ISO-TIME] [--json]',
  async run(args) {
    const p = parseCommandArgs(args, { role: { type: 'string' }, name: { type: 'string' }, expires: { type: 'string' } });
    if (helpOr(p, this.usage!)) return EXIT_OK;
    const v = p.values as { role?: string; name?: string; expires?: string; json?: boolean };
    const role = roleOf(v.role);
    const name = nameOf(v.name, role);
    const expiresAt = v.expires === undefined ? null : expiryOf(v.expires);
    const { token, info } = await withDatabase((db) => createApiToken(db, { role, name, expiresAt, actor: cliActor() }));
    const human = [
      `created ${role} token ${info.id} (${name}), ${expiresAt ? `expires ${formatTime(expiresAt)}` : 'no expiry'}`,
      '',
      `  ${token}`,
      '',
      'This is the only time it is shown: store it now. Send it as "Authorization: Bearer <token>".',
    ].join('\n');
    print(Boolean(v.json), { ...jsonOf(info), token }, human);
    return EXIT_OK;
  },
};

const listCommand: Command = {
  path: ['token', 'list'],
  summary: 'list API tokens (never their secrets)',
  usage: 'hydra token list [--json]',
  async run(args) {
    const p = parseCommandArgs(args);
    if (helpOr(p, this.usage!)) return EXIT_OK;
    const tokens = await withDatabase((db) => listApiTokens(db));
    const table = renderTable(
      ['ID', 'NAME', 'ROLE', 'STATUS', 'CREATED', 'EXPIRES', 'LAST USED', 'BY'],
      tokens.map((t) => [t.id, t.name, t.role, statusOf(t), formatTime(t.createdAt), formatTime(t.expiresAt), formatTime(t.lastUsedAt), orDash(t.createdBy)]),
    );
    print(Boolean(p.values.json), tokens.map(jsonOf), tokens.length === 0 ? "no API tokens; make one with 'hydra token create --role viewer'" : table);
    return EXIT_OK;
  },
};

const revokeCommand: Command = {
  path: ['token', 'revoke'],
  summary: 'revoke an API token (instances stop accepting it within 10 s)',
  usage: 'hydra token revoke ID [--json]',
  async run(args) {
    const p = parseCommandArgs(args, {}, ['ID']);
    if (helpOr(p, this.usage!)) return EXIT_OK;
    const id = p.positionals[0]!;
    if (!/^[a-z0-9]{12}$/.test(id)) throw new UsageError(`ID: '${id}' is invalid; expected a token id of 12 lower-case letters and digits, as 'hydra token list' shows`);
    const revoked = await withDatabase((db) => revokeApiToken(db, id, cliActor()));
    if (revoked === null) {
      process.stderr.write(`hydra token revoke: no API token ${id}; 'hydra token list' shows them\n`);
      return EXIT_FAILURE;
    }
    print(Boolean(p.values.json), jsonOf(revoked), `revoked ${revoked.role} token ${id} (${revoked.name}); instances refuse it within 10 s`);
    return EXIT_OK;
  },
};

export const tokenCommands: Command[] = [createCommand, listCommand, revokeCommand];
