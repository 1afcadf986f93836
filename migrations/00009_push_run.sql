-- dirsync schema, version 9: which run a pending push belongs to, so that
-- only that run, when its process dies, is said to have died while
-- sending (push_pending stays set after a failed push, for the next full
-- push; a later run killed while reading sent nothing).

-- +goose Up
ALTER TABLE delta_state ADD COLUMN push_run_id INTEGER;

-- +goose Down
ALTER TABLE delta_state DROP COLUMN push_run_id;
