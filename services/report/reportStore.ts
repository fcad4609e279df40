/**
 * Reading reports back (table reports, schema.sql) and creating the tables at start. Rows are
 * turned into the JSON the HTTP API serves: ids as numbers (bigint columns arrive as strings),
 * `blastId`, `createdAt` as ISO 8601. The list leaves out the per-detonator table and the
 * snapshots, which can be a thousand records each; `GET /reports/:id` has them.
 */
import type pg from 'pg';
import { ensureSchema as ensureTables } from '../ensureSchema.js';
import type { BlastSummary, EndSnapshot, FrameSnapshot, Outcome } from './summarize.js';

const SCHEMA = new URL('./schema.sql', import.meta.url);

export interface ReportListEntry {
  id: number;
  site: number;
  device: number;
  blastId: number;
  outcome: Outcome;
  createdAt: string;
  summary: Omit<BlastSummary, 'detonators'>;
}

export interface Report extends Omit<ReportListEntry, 'summary'> {
  summary: BlastSummary;
  start: FrameSnapshot | null;
  end: EndSnapshot;
}

export interface ReportFilter {
  site?: number;
  device?: number;
  outcome?: Outcome;
  /** Newest first, at most this many. */
  limit: number;
}

/** Creates this service's tables if missing. */
export function ensureSchema(pool: pg.Pool): Promise<void> {
  return ensureTables(pool, SCHEMA);
}

interface Row {
  id: string;
  site: string;
  device: string;
  blast_id: string;
  outcome: Outcome;
  created_at: Date;
  summary: BlastSummary;
  start_snapshot?: FrameSnapshot | null;
  end_snapshot?: EndSnapshot;
}

export async function listReports(pool: pg.Pool, filter: ReportFilter): Promise<ReportListEntry[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  for (const [column, value] of [['site', filter.site], ['device', filter.device], ['outcome', filter.outcome]] as const) {
    if (value === undefined) continue;
    params.push(value);
    where.push(`${column} = $${params.length}`);
  }
  params.push(filter.limit);
  const { rows } = await pool.query<Row>(
    `SELECT id, site, device, blast_id, outcome, created_at, summary - 'detonators' AS summary FROM reports
     ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT $${params.length}`,
    params,
  );
  return rows.map(entry);
}

export async function getReport(pool: pg.Pool, id: number): Promise<Report | null> {
  const { rows } = await pool.query<Row>('SELECT id, site, device, blast_id, outcome, created_at, summary, start_snapshot, end_snapshot FROM reports WHERE id = $1', [id]);
  const row = rows[0];
  if (!row) return null;
  return { ...entry(row), summary: row.summary, start: row.start_snapshot ?? null, end: row.end_snapshot! };
}

function entry(row: Row): ReportListEntry {
  return {
    id: Number(row.id),
    site: Number(row.site),
    device: Number(row.device),
    blastId: Number(row.blast_id),
    outcome: row.outcome,
    createdAt: row.created_at.toISOString(),
    summary: row.summary,
  };
}
