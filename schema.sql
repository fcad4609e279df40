-- Hydra scheduler: the full schema, the source of truth beside the numbered migrations in
-- scheduler/migrations/. A fresh `hydra db migrate` must produce exactly this schema
-- (test/scheduler/migrate.test.ts compares the two); change both together.
--
-- Timestamps are written with now(), the database clock: nodes and schedulers disagree about
-- time, the database is the one clock every decision (lease expiry, heartbeat age) is taken on.

-- Applied migrations. IF NOT EXISTS: the migrator creates this table before the first
-- migration runs, so the migration that also declares it must not fail.
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    integer     PRIMARY KEY,
  name       text        NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);

-- Nodes. Liveness (state) and the operator's intent (admin_state) are two columns on purpose:
-- a cordoned node that dies and comes back must still be cordoned.
CREATE TABLE nodes (
  id            text        PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$'),
  -- Stable identity of the daemon claiming the id (machine + home); a different host_key
  -- claiming a live node's id is a collision and is refused.
  host_key      text        NOT NULL,
  labels        jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(labels) = 'object'),
  -- e.g. {"cpu": 4, "memoryMb": 8192}
  capacity      jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(capacity) = 'object'),
  address       text        NOT NULL,
  version       text        NOT NULL,
  state         text        NOT NULL DEFAULT 'up' CHECK (state IN ('up', 'down')),
  admin_state   text        NOT NULL DEFAULT 'active' CHECK (admin_state IN ('active', 'cordoned', 'draining')),
  registered_at timestamptz NOT NULL DEFAULT now(),
  heartbeat_at  timestamptz NOT NULL DEFAULT now(),
  down_at       timestamptz
);
CREATE INDEX nodes_state_heartbeat_idx ON nodes (state, heartbeat_at);

-- Releases: one per pushed commit, with the content hash of each service to tell what changed.
CREATE TABLE releases (
  id             bigserial   PRIMARY KEY,
  -- A plain name (migration 010): it names the release's directory, which pruning deletes.
  commit         text        NOT NULL UNIQUE CHECK (commit ~ '^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$'),
  path           text        NOT NULL,
  status         text        NOT NULL DEFAULT 'building' CHECK (status IN ('building', 'ready', 'failed')),
  service_hashes jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(service_hashes) = 'object'),
  error          text,
  created_at     timestamptz NOT NULL DEFAULT now()
);

-- The source of each ready release, so a node other than the one a push reached can build and
-- run it: the commit's tree as the receiver checked it out (git archive, tar.gz), with its
-- sha256 to refuse a corrupted copy, and where the app root lies inside it ('dist' for a
-- TypeScript app, '' when the committed files are the release). Deleted with the release.
CREATE TABLE release_sources (
  release_id bigint      PRIMARY KEY REFERENCES releases (id) ON DELETE CASCADE,
  app_subdir text        NOT NULL,
  archive    bytea       NOT NULL,
  sha256     text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  built_on   text        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- What should run: one spec per service. An impossible spec is stored all the same and its
-- placements are reported unplaceable with the reason, never silently dropped.
CREATE TABLE service_specs (
  name        text        PRIMARY KEY,
  instances   integer     NOT NULL DEFAULT 1 CHECK (instances >= 0),
  -- label selector: {"site": "north", "gpu": "yes"}
  constraints jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(constraints) = 'object'),
  pinned_node text        REFERENCES nodes (id) ON DELETE RESTRICT,
  cpu         numeric     NOT NULL DEFAULT 0 CHECK (cpu >= 0),
  memory_mb   integer     NOT NULL DEFAULT 0 CHECK (memory_mb >= 0),
  -- label key to spread instances across (e.g. "rack"); null = spread across nodes
  spread      text,
  release_id  bigint      REFERENCES releases (id),
  version     text,
  config      jsonb       NOT NULL DEFAULT '{}',
  -- The module relative to the app root of its release (or of the node's own code without a
  -- release); null = the entry of the same name in that app's services/topology.json.
  module      text        CHECK (module IS NULL OR module <> ''),
  generation  bigint      NOT NULL DEFAULT 1,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Placements: desired state (written by the leader, fenced by its epoch) and actual state
-- (reported by the node's reconciler). node_id null with a reason = unplaceable.
CREATE TABLE placements (
  id               bigserial   PRIMARY KEY,
  service          text        NOT NULL REFERENCES service_specs (name) ON DELETE CASCADE,
  instance         integer     NOT NULL CHECK (instance >= 0),
  node_id          text        REFERENCES nodes (id) ON DELETE SET NULL,
  desired_state    text        NOT NULL DEFAULT 'running' CHECK (desired_state IN ('running', 'stopped')),
  desired_version  text,
  unplaceable      text,
  leader_epoch     bigint      NOT NULL,
  actual_state     text        NOT NULL DEFAULT 'pending'
                               CHECK (actual_state IN ('pending', 'starting', 'running', 'stopping', 'stopped', 'failed')),
  actual_version   text,
  actual_detail    text,
  actual_at        timestamptz,
  actual_port      integer     CHECK (actual_port BETWEEN 1 AND 65535),
  actual_pid       integer,
  actual_healthy   boolean,
  -- The node actual_* was reported from (after a move, the old node's until the new one reports).
  actual_node      text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (service, instance)
);
CREATE INDEX placements_node_idx ON placements (node_id);

-- Rolling updates: a release rolled across nodes max_parallel at a time.
CREATE TABLE deployments (
  id                  bigserial   PRIMARY KEY,
  release_id          bigint      NOT NULL REFERENCES releases (id),
  previous_release_id bigint      REFERENCES releases (id),
  service             text,
  max_parallel        integer     NOT NULL DEFAULT 1 CHECK (max_parallel >= 1),
  state               text        NOT NULL DEFAULT 'pending'
                                  CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'rolled_back')),
  progress            jsonb       NOT NULL DEFAULT '{}',
  error               text,
  -- A batch not healthy within this time fails the deployment.
  batch_timeout_ms    integer     NOT NULL DEFAULT 120000 CHECK (batch_timeout_ms > 0),
  -- A batch is done once its instances ran healthy, their reports unchanged, this long.
  health_window_ms    integer     NOT NULL DEFAULT 5000 CHECK (health_window_ms >= 0),
  actor               text        NOT NULL DEFAULT 'cli',
  created_at          timestamptz NOT NULL DEFAULT now(),
  started_at          timestamptz,
  finished_at         timestamptz
);

-- Cron jobs, run on the leader only.
CREATE TABLE jobs (
  name        text        PRIMARY KEY,
  schedule    text        NOT NULL,
  target_kind text        NOT NULL CHECK (target_kind IN ('service_function', 'command')),
  -- service_function: {"service": "...", "function": "...", "args": {...}}; command: {"argv": [...]}
  target      jsonb       NOT NULL,
  enabled     boolean     NOT NULL DEFAULT true,
  timeout_ms  integer     NOT NULL DEFAULT 60000 CHECK (timeout_ms > 0),
  -- A tick while a run is still going: 'forbid' records it as 'skipped', 'allow' runs it too.
  concurrency text        NOT NULL DEFAULT 'forbid' CHECK (concurrency IN ('allow', 'forbid')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per (job, tick): the unique key is what prevents a double run across a failover.
CREATE TABLE job_runs (
  id            bigserial   PRIMARY KEY,
  job_name      text        NOT NULL REFERENCES jobs (name) ON DELETE CASCADE,
  scheduled_for timestamptz NOT NULL,
  leader_epoch  bigint      NOT NULL,
  node_id       text,
  -- 'skipped': a tick of a 'forbid' job not run because another run was still going.
  state         text        NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'succeeded', 'failed', 'skipped')),
  result        jsonb,
  error         text,
  started_at    timestamptz NOT NULL DEFAULT now(),
  finished_at   timestamptz,
  UNIQUE (job_name, scheduled_for)
);
-- The runs still going: every claim of a 'forbid' job looks for them.
CREATE INDEX job_runs_running_idx ON job_runs (job_name, started_at) WHERE state = 'running';

-- Leader leases. The row is never deleted: epoch only grows, so a token once superseded can
-- never become valid again (deleting the row would restart it at 1).
CREATE TABLE leases (
  name        text        PRIMARY KEY,
  holder      text        NOT NULL,
  epoch       bigint      NOT NULL CHECK (epoch >= 1),
  acquired_at timestamptz NOT NULL DEFAULT now(),
  renewed_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL
);

-- What happened and who did it: placements, unplaceable specs, node state changes, refusals.
CREATE TABLE audit_events (
  id      bigserial   PRIMARY KEY,
  at      timestamptz NOT NULL DEFAULT now(),
  actor   text        NOT NULL,
  kind    text        NOT NULL,
  subject text,
  detail  jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at_idx ON audit_events (at);
CREATE INDEX audit_events_subject_idx ON audit_events (subject, at);

-- Wake-ups: a NOTIFY for each change that alters what a node should run (channel
-- hydra_placements, payload the node id) or what the leader should decide (channel
-- hydra_scheduler, payload the table). Nodes LISTEN on a direct connection and act at once;
-- polling stays the backstop (a notification sent while a listener is disconnected is lost).
-- PostgreSQL folds identical notifications of one transaction into one.

CREATE FUNCTION hydra_wake_node() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' AND OLD.node_id IS NOT NULL THEN PERFORM pg_notify('hydra_placements', OLD.node_id); END IF;
  IF TG_OP <> 'DELETE' AND NEW.node_id IS NOT NULL THEN PERFORM pg_notify('hydra_placements', NEW.node_id); END IF;
  RETURN NULL;
END $$;

-- A spec's module, config or release is part of what its nodes run.
CREATE FUNCTION hydra_wake_spec_nodes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('hydra_placements', p.node_id) FROM placements p WHERE p.service = NEW.name AND p.node_id IS NOT NULL;
  RETURN NULL;
END $$;

CREATE FUNCTION hydra_wake_scheduler() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('hydra_scheduler', TG_TABLE_NAME);
  RETURN NULL;
END $$;

CREATE TRIGGER placements_wake_node AFTER INSERT OR DELETE ON placements
  FOR EACH ROW EXECUTE FUNCTION hydra_wake_node();
CREATE TRIGGER placements_wake_node_on_change AFTER UPDATE ON placements
  FOR EACH ROW WHEN (OLD.node_id IS DISTINCT FROM NEW.node_id OR OLD.desired_state IS DISTINCT FROM NEW.desired_state OR OLD.desired_version IS DISTINCT FROM NEW.desired_version)
  EXECUTE FUNCTION hydra_wake_node();
CREATE TRIGGER service_specs_wake_nodes AFTER UPDATE ON service_specs
  FOR EACH ROW WHEN (OLD.module IS DISTINCT FROM NEW.module OR OLD.config IS DISTINCT FROM NEW.config)
  EXECUTE FUNCTION hydra_wake_spec_nodes();

-- The leader: specs and rollouts asked for, nodes joining, leaving or changed by an operator,
-- and instances changing state (a rolling update advances on those).
CREATE TRIGGER service_specs_wake_scheduler AFTER INSERT OR UPDATE OR DELETE ON service_specs
  FOR EACH STATEMENT EXECUTE FUNCTION hydra_wake_scheduler();
CREATE TRIGGER deployments_wake_scheduler AFTER INSERT ON deployments
  FOR EACH STATEMENT EXECUTE FUNCTION hydra_wake_scheduler();
CREATE TRIGGER nodes_wake_scheduler AFTER INSERT OR DELETE ON nodes
  FOR EACH STATEMENT EXECUTE FUNCTION hydra_wake_scheduler();
CREATE TRIGGER nodes_wake_scheduler_on_change AFTER UPDATE ON nodes
  FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.admin_state IS DISTINCT FROM NEW.admin_state OR OLD.labels IS DISTINCT FROM NEW.labels OR OLD.capacity IS DISTINCT FROM NEW.capacity)
  EXECUTE FUNCTION hydra_wake_scheduler();
CREATE TRIGGER placements_wake_scheduler AFTER UPDATE ON placements
  FOR EACH ROW WHEN (OLD.actual_state IS DISTINCT FROM NEW.actual_state OR OLD.actual_healthy IS DISTINCT FROM NEW.actual_healthy OR OLD.actual_version IS DISTINCT FROM NEW.actual_version)
  EXECUTE FUNCTION hydra_wake_scheduler();

-- Service-function calls go through the database to the node that runs the instance: instances
-- listen on 127.0.0.1 and edge nodes are often reachable only outbound, but every node already
-- talks to PostgreSQL. The caller (a cron run on the leader, `run-job` on an operator's machine)
-- inserts a row; the node named is woken (NOTIFY hydra_calls, payload its id; it also polls),
-- claims it, calls its local instance and writes the answer; the caller reads it and deletes the
-- row. A call nobody answered by its deadline is deleted by its caller.
CREATE TABLE function_calls (
  id          bigserial   PRIMARY KEY,
  node_id     text        NOT NULL,
  service     text        NOT NULL,
  function    text        NOT NULL,
  args        jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(args) = 'object'),
  state       text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'done', 'failed')),
  -- done: the instance's HTTP status and answer; failed: why it could not be called.
  status      integer,
  result      jsonb,
  url         text,
  error       text,
  requested_by text       NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  deadline    timestamptz NOT NULL,
  started_at  timestamptz,
  finished_at timestamptz,
  -- Who the call comes as (migration 008): 'scheduler' (cron) or 'operator' (hydra scheduler call).
  role        text        NOT NULL DEFAULT 'scheduler' CHECK (role IN ('scheduler', 'operator'))
);
CREATE INDEX function_calls_pending_idx ON function_calls (node_id, id) WHERE state = 'pending';

CREATE FUNCTION hydra_wake_calls() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('hydra_calls', NEW.node_id);
  RETURN NULL;
END $$;
CREATE TRIGGER function_calls_wake_node AFTER INSERT ON function_calls
  FOR EACH ROW EXECUTE FUNCTION hydra_wake_calls();

-- API tokens (migration 009): viewer or operator, `hydra_<id>_<secret>`, only the secret's
-- SHA-256 kept (a 256-bit random secret needs no slow hash).
CREATE TABLE api_tokens (
  id           text        PRIMARY KEY CHECK (id ~ '^[a-z0-9]{12}$'),
  name         text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  role         text        NOT NULL CHECK (role IN ('viewer', 'operator')),
  secret_sha256 bytea      NOT NULL CHECK (length(secret_sha256) = 32),
  created_by   text        NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz,
  revoked_at   timestamptz,
  last_used_at timestamptz
);
