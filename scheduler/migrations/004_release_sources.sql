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
