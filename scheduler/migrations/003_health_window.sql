-- A rolling update's batch counts as done only after its instances have run healthy, with
-- nothing changing in what they report, for this long: a version that crashes or starts
-- failing messages a few seconds after it came up is caught inside its batch.
ALTER TABLE deployments ADD COLUMN health_window_ms integer NOT NULL DEFAULT 5000 CHECK (health_window_ms >= 0);
