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
