-- dirsync schema, version 3: what the last accepted read returned, for the
-- shrink guard (issue 8): a read with the same settings that returns far
-- fewer live users or memberships is held instead of pushed.

-- +goose Up
ALTER TABLE sync_state ADD COLUMN read_key TEXT NOT NULL DEFAULT '';
ALTER TABLE sync_state ADD COLUMN read_users INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_state ADD COLUMN read_memberships INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE sync_state DROP COLUMN read_memberships;
ALTER TABLE sync_state DROP COLUMN read_users;
ALTER TABLE sync_state DROP COLUMN read_key;
