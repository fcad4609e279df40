-- A cron job's concurrency policy: what a tick does while a run of the job is still going.
--   forbid: the tick is not run; it is recorded in job_runs as state 'skipped', naming the run
--           still going, so the history shows every tick and why it did not run.
--   allow:  the tick runs beside the other (each tick its own run, bounded by timeout_ms).
-- A run counts as still going only while 'running' and younger than its job's timeout_ms plus
-- a grace (scheduler/cron/cronRunner.ts): a run left 'running' by a leader that died must not
-- block its job for ever.
--
-- New jobs default to 'forbid'. Jobs that exist when this runs become 'allow', the behaviour
-- they had: the migration runs during an upgrade with nobody deciding about each job, and
-- switching overlap off under them would start dropping ticks of a job that relies on every
-- tick running (a per-second sampler that now and then takes longer than a second). An
-- operator opts a job in with `hydra scheduler define-job … --concurrency forbid`; a
-- redefinition that omits --concurrency takes the default, forbid, and its output says so.
ALTER TABLE jobs ADD COLUMN concurrency text NOT NULL DEFAULT 'allow' CHECK (concurrency IN ('allow', 'forbid'));
ALTER TABLE jobs ALTER COLUMN concurrency SET DEFAULT 'forbid';

-- 'skipped': a tick a 'forbid' job did not run (started_at = finished_at = when it was decided).
ALTER TABLE job_runs DROP CONSTRAINT job_runs_state_check,
  ADD CONSTRAINT job_runs_state_check CHECK (state IN ('running', 'succeeded', 'failed', 'skipped'));

-- Every claim of a 'forbid' job looks for its runs still going; the history of a per-second job
-- grows by 86 400 rows a day, and this keeps that look to the few rows that are 'running' (the
-- new leader's failOrphanedRuns uses it too).
CREATE INDEX job_runs_running_idx ON job_runs (job_name, started_at) WHERE state = 'running';
