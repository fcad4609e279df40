/**
 * The state service's settings, read from the environment once in `init`. A missing or
 * malformed variable fails the start with its name and what is expected.
 */

export interface StateConfig {
  databaseUrl: string;
  /** Longest wait of an applied row before its flush (write-behind lag bound). */
  flushMs: number;
  /** Rows that start a flush at once. */
  flushRows: number;
  ssePingMs: number;
  wsPingMs: number;
  wsMaxBindings: number;
}

export class StateConfigError extends Error {
  override readonly name = 'StateConfigError';
  constructor(variable: string, problem: string) {
    super(`${variable}: ${problem}`);
  }
}

export function readStateConfig(env: NodeJS.ProcessEnv = process.env): StateConfig {
  const databaseUrl = env.DATABASE_URL ?? '';
  if (!/^postgres(ql)?:\/\/\S+$/.test(databaseUrl)) throw new StateConfigError('DATABASE_URL', `${JSON.stringify(env.DATABASE_URL ?? null)} is not a PostgreSQL URL; expected postgres://user@host:port/db (the state service persists item_state there)`);
  return {
    databaseUrl,
    flushMs: int(env, 'STATE_FLUSH_MS', 50, 1, 10_000),
    flushRows: int(env, 'STATE_FLUSH_ROWS', 500, 1, 100_000),
    ssePingMs: int(env, 'STATE_SSE_PING_MS', 15_000, 10, 600_000),
    wsPingMs: int(env, 'STATE_WS_PING_MS', 30_000, 10, 600_000),
    wsMaxBindings: int(env, 'STATE_WS_MAX_BINDINGS', 100, 1, 10_000),
  };
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new StateConfigError(name, `'${raw}' is invalid; expected an integer from ${min} to ${max}`);
  return n;
}
