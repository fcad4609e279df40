/**
 * The report service's settings, read from the environment once in `init`. A missing or
 * malformed variable fails the start with its name and what is expected.
 */

export interface ReportConfig {
  databaseUrl: string;
}

export class ReportConfigError extends Error {
  override readonly name = 'ReportConfigError';
  constructor(variable: string, problem: string) {
    super(`${variable}: ${problem}`);
  }
}

export function readReportConfig(env: NodeJS.ProcessEnv = process.env): ReportConfig {
  const databaseUrl = env.DATABASE_URL ?? '';
  if (!/^postgres(ql)?:\/\/\S+$/.test(databaseUrl)) {
    throw new ReportConfigError('DATABASE_URL', `${JSON.stringify(env.DATABASE_URL ?? null)} is not a PostgreSQL URL; expected postgres://user@host:port/db (the report service keeps blast progress and reports there)`);
  }
  return { databaseUrl };
}
