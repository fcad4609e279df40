-- The report service's own tables. Idempotent: the service runs it on every start.
-- Ids, sequence numbers and blast ids are unsigned 32-bit on the wire (docs/packet-format.md),
-- so they need bigint; device timestamps are epoch milliseconds.

-- Blast progress: the arm and fire frames of blasts that have not ended yet, one row per frame,
-- written as each arrives, so a restart mid-blast continues where it was. The primary key is
-- the frame's identity (site, device, seq): a redelivered frame is a no-op insert. The rows of a
-- blast are deleted in the transaction that writes its report.
CREATE TABLE IF NOT EXISTS blast_progress (
  site        bigint      NOT NULL,
  device      bigint      NOT NULL,
  seq         bigint      NOT NULL,
  blast_id    bigint      NOT NULL,
  frame_type  text        NOT NULL CHECK (frame_type IN ('arm', 'fire')),
  device_ts   bigint      NOT NULL,
  items       jsonb       NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (site, device, seq)
);
CREATE INDEX IF NOT EXISTS blast_progress_blast ON blast_progress (site, device, blast_id);

-- One report per blast: UNIQUE (site, device, blast_id) makes a redelivered end frame a no-op.
CREATE TABLE IF NOT EXISTS reports (
  id             bigserial   PRIMARY KEY,
  site           bigint      NOT NULL,
  device         bigint      NOT NULL,
  blast_id       bigint      NOT NULL,
  outcome        text        NOT NULL CHECK (outcome IN ('complete', 'abort', 'fault')),
  -- Counts, timing, warnings and the per-detonator table (summarize.ts).
  summary        jsonb       NOT NULL,
  -- The arm frame (seq, deviceTs, items) and the end frame (seq, deviceTs, frameType, items).
  start_snapshot jsonb,
  end_snapshot   jsonb       NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  UNIQUE (site, device, blast_id)
);
CREATE INDEX IF NOT EXISTS reports_site_device ON reports (site, device, id DESC);
