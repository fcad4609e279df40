/**
 * Cron job definitions (the `jobs` table): define (checked by jobSpec.ts first), read, list with
 * each job's latest run, enable or disable, remove. Definitions, enabling and removal are
 * audited. The run history is runRecords.ts's.
 */
import { recordAudit } from '../store/audit.js';
import { inTransaction, type Db } from '../../core/pgTransaction.js';
import { JobNotFoundError } from './errors.js';
import { auditedTarget, checkJobInput, storedTarget, targetFromStored, type Job, type JobConcurrency, type JobInput } from './jobSpec.js';
import { RUN_COLUMNS, toJobRun, type RunRow } from './runRecords.js';

// ---------------------------------------------------------------------------------------------
// Rows

interface JobRow {
  name: string;
  schedule: string;
  target_kind: 'command' | 'service_function';
  target: Record<string, unknown>;
  enabled: boolean;
  timeout_ms: number;
  concurrency: JobConcurrency;
  created_at: Date;
  updated_at: Date;
  last_run: RunRow | null;
}

function toJob(r: JobRow): Job {
  return {
    name: r.name,
    schedule: r.schedule,
    target: targetFromStored(r.target_kind, r.target),
    enabled: r.enabled,
    timeoutMs: r.timeout_ms,
    concurrency: r.concurrency,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    lastRun: r.last_run ? toJobRun(r.last_run) : null,
  };
}

// The latest run by scheduled_for: the UNIQUE (job_name, scheduled_for) index answers it
// without reading the history, which grows by 86 400 rows a day for a per-second job.
const SELECT_JOBS = `
  SELECT j.name, j.schedule, j.target_kind, j.target, j.enabled, j.timeout_ms, j.concurrency, j.created_at, j.updated_at,
         (SELECT row_to_json(r) FROM (
            SELECT ${RUN_COLUMNS} FROM job_runs WHERE job_name = j.name ORDER BY scheduled_for DESC, id DESC LIMIT 1
          ) r) AS last_run
  FROM jobs j`;

// ---------------------------------------------------------------------------------------------
// API

/** Creates or replaces a job (by name) after validating every field; audited as 'job.defined'. */
export async function defineJob(db: Db, input: JobInput, actor: string): Promise<Job> {
  const { name, schedule, target, enabled, timeoutMs, concurrency } = checkJobInput(input);
  await inTransaction(db, async (client) => {
    const r = await client.query<{ created: boolean; enabled: boolean }>(
      `INSERT INTO jobs AS j (name, schedule, target_kind, target, enabled, timeout_ms, concurrency)
       VALUES ($1, $2, $3, $4, COALESCE($5, true), $6, $7)
       ON CONFLICT (name) DO UPDATE SET
         schedule = EXCLUDED.schedule, target_kind = EXCLUDED.target_kind, target = EXCLUDED.target,
         enabled = COALESCE($5, j.enabled), timeout_ms = EXCLUDED.timeout_ms, concurrency = EXCLUDED.concurrency, updated_at = now()
       RETURNING (xmax = 0) AS created, enabled`,
      [name, schedule, target.kind, JSON.stringify(storedTarget(target)), enabled, timeoutMs, concurrency],
    );
    const row = r.rows[0]!;
    await recordAudit(client, {
      actor,
      kind: 'job.defined',
      subject: name,
      detail: { created: row.created, schedule, targetKind: target.kind, target: auditedTarget(target), enabled: row.enabled, timeoutMs, concurrency },
    });
  });
  return (await getJob(db, name))!;
}

export async function getJob(db: Db, name: string): Promise<Job | null> {
  const r = await db.query<JobRow>(`${SELECT_JOBS} WHERE j.name = $1`, [name]);
  return r.rows[0] ? toJob(r.rows[0]) : null;
}

/** Every job, by name, each with its latest run. */
export async function listJobs(db: Db): Promise<Job[]> {
  const r = await db.query<JobRow>(`${SELECT_JOBS} ORDER BY j.name`);
  return r.rows.map(toJob);
}

/** Deletes a job and its run history; JobNotFoundError when there is none. Audited as 'job.removed'. */
export async function removeJob(db: Db, name: string, actor: string): Promise<void> {
  await inTransaction(db, async (client) => {
    const r = await client.query('DELETE FROM jobs WHERE name = $1', [name]);
    if (r.rowCount !== 1) throw new JobNotFoundError(name);
    await recordAudit(client, { actor, kind: 'job.removed', subject: name });
  });
}

/** Enables or disables a job (the leader picks it up at its next reload); audited. */
export async function setJobEnabled(db: Db, name: string, enabled: boolean, actor: string): Promise<Job> {
  await inTransaction(db, async (client) => {
    const old = await client.query<{ enabled: boolean }>('SELECT enabled FROM jobs WHERE name = $1 FOR UPDATE', [name]);
    if (!old.rows[0]) throw new JobNotFoundError(name);
    await client.query('UPDATE jobs SET enabled = $2, updated_at = now() WHERE name = $1', [name, enabled]);
    await recordAudit(client, { actor, kind: enabled ? 'job.enabled' : 'job.disabled', subject: name, detail: { previous: old.rows[0].enabled } });
  });
  return (await getJob(db, name))!;
}
