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
  finished_at timestamptz
);
CREATE INDEX function_calls_pending_idx ON function_calls (node_id, id) WHERE state = 'pending';

CREATE FUNCTION hydra_wake_calls() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('hydra_calls', NEW.node_id);
  RETURN NULL;
END $$;
CREATE TRIGGER function_calls_wake_node AFTER INSERT ON function_calls
  FOR EACH ROW EXECUTE FUNCTION hydra_wake_calls();
