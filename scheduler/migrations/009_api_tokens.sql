-- API tokens for people and programs reading or driving the node over HTTP (viewer: read
-- routes, WebSocket and SSE; operator: everything a viewer may, plus writes and admin actions).
-- A token is `hydra_<id>_<secret>`: the id finds the row, the secret (32 random bytes) is kept
-- only as its SHA-256. A plain hash is enough for a random secret of 256 bits: there is nothing
-- to guess from a dictionary, so a slow password hash would only slow every request.
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
