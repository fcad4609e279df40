/**
 * The one structured logger: JSON lines on stdout, the same keys every time (ts, level, msg,
 * then node, component, service, version, instance, pid where known) so operators can grep and
 * dashboards can group. Child loggers add fields.
 */

export type Level = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LoggerOptions {
  /** Lowest level written; default HYDRA_LOG_LEVEL, else info. */
  level?: Level;
  write?: (line: string) => void;
}

export function createLogger(base: Record<string, unknown> = {}, options: LoggerOptions = {}): Logger {
  const min = ORDER[options.level ?? (process.env.HYDRA_LOG_LEVEL as Level | undefined) ?? 'info'] ?? ORDER.info;
  const write = options.write ?? ((line: string) => process.stdout.write(line));
  const make = (fields: Record<string, unknown>): Logger => {
    const log = (level: Level) => (msg: string, extra?: Record<string, unknown>) => {
      if (ORDER[level] < min) return;
      const entry = { ts: new Date().toISOString(), level, msg, ...fields, pid: process.pid, ...extra };
      write(`${JSON.stringify(entry, errorReplacer)}\n`);
    };
    return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error'), child: (more) => make({ ...fields, ...more }) };
  };
  return make(base);
}

function errorReplacer(_key: string, value: unknown): unknown {
  return value instanceof Error ? `${value.name}: ${value.message}` : value;
}
