-- A release's commit names its directory (releases/<commit>), which pruning deletes: only a plain
-- name (a git object id in practice) may be stored, never '..', a slash or an absolute path.
ALTER TABLE releases ADD CONSTRAINT releases_commit_check CHECK (commit ~ '^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$');
