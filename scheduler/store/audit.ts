/**
 * The one writer of `audit_events`: what happened (kind), to what (subject), who did it (actor)
 * and the particulars (detail, stored as jsonb). Every scheduler module that audits calls this,
 * so the row's shape is decided in one place. Pass the client of the caller's transaction when
 * the audit row must stand or fall with the change it describes.
 */
import type { Db } from '../../core/pgTransaction.js';

export interface AuditEvent {
  /** Who did it: a node id, a CLI user, 'scheduler', 'registry'. */
  actor: string;
  /** What happened, dotted: 'placement.moved', 'node.down', 'job.defined'. */
  kind: string;
  /** What it happened to: a service, 'service#instance', a node id, a job name. */
  subject: string;
  detail?: Record<string, unknown>;
}

export async function recordAudit(db: Db, event: AuditEvent): Promise<void> {
  await db.query('INSERT INTO audit_events (actor, kind, subject, detail) VALUES ($1, $2, $3, $4)', [
    event.actor,
    event.kind,
    event.subject,
    JSON.stringify(event.detail ?? {}),
  ]);
}
