-- The state service's own table: the last applied record of every item (detonator), keyed by
-- (site, device, item). Idempotent: the service runs it on every start.
-- Ids, sequence numbers and delays are unsigned 32-bit on the wire (docs/packet-format.md), so
-- they need bigint; device_ts is epoch milliseconds.
CREATE TABLE IF NOT EXISTS item_state (
  site        bigint           NOT NULL,
  device      bigint           NOT NULL,
  item        bigint           NOT NULL,
  seq         bigint           NOT NULL,
  device_ts   bigint           NOT NULL,
  status      text             NOT NULL,
  fault_code  integer          NOT NULL,
  voltage     double precision NOT NULL,
  resistance  double precision NOT NULL,
  delay_ms    bigint           NOT NULL,
  updated_at  timestamptz      NOT NULL DEFAULT now(),
  -- The packets.parsed entry that applied the row and the fields it changed: after a restart a
  -- redelivery of that entry is recognised and its state.change emitted again (liveState.ts).
  source_id   text             NOT NULL DEFAULT '',
  changed     text[]           NOT NULL DEFAULT '{}',
  PRIMARY KEY (site, device, item)
);

-- State changes of the last flushed batch that a later update of the same item in that same
-- batch overwrote in item_state. Until the batch is acknowledged, a redelivery (state killed
-- after the flush) must announce them again on state.changes, and the row alone no longer says
-- what they were. Replaced by the next flush that has any, or follows one that had any: the
-- batch before it is acknowledged by then (one batch at a time).
CREATE TABLE IF NOT EXISTS item_state_superseded (
  source_id  text    NOT NULL,
  ord        integer NOT NULL,
  change     jsonb   NOT NULL
);
