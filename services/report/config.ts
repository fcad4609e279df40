/** The report service's settings, read from the environment once in `init` (rules in ../serviceEnv.ts). */
import { databaseUrlFromEnv } from '../serviceEnv.js';

export interface ReportConfig {
  databaseUrl: string;
}

export function readReportConfig(env: NodeJS.ProcessEnv = process.env): ReportConfig {
  return { databaseUrl: databaseUrlFromEnv(env, 'the report service keeps blast progress and reports there') };
}
