-- Placement, reconcile and rollout details that 001 left out.

-- The service module, relative to the app root of the release it runs from (or of the node's
-- own code when the spec has no release); null = the entry of the same name in that app's
-- catalog (services/topology.json).
ALTER TABLE service_specs ADD COLUMN module text CHECK (module IS NULL OR module <> '');

-- What the node's reconciler reports besides the state: where the instance listens (nginx is
-- rendered from it), its pid, and whether its last health report was good.
ALTER TABLE placements ADD COLUMN actual_port integer CHECK (actual_port BETWEEN 1 AND 65535);
ALTER TABLE placements ADD COLUMN actual_pid integer;
ALTER TABLE placements ADD COLUMN actual_healthy boolean;
-- The node the actual_* columns were reported from: after a move they describe the old node
-- until the new one reports, and must not be read as the new node's.
ALTER TABLE placements ADD COLUMN actual_node text;

-- A rollout batch that is not healthy within this time fails the deployment.
ALTER TABLE deployments ADD COLUMN batch_timeout_ms integer NOT NULL DEFAULT 120000 CHECK (batch_timeout_ms > 0);
ALTER TABLE deployments ADD COLUMN actor text NOT NULL DEFAULT 'cli';
