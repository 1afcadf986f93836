-- dirsync schema, version 2: what the alerts last reported, so that a
-- restart does not alert again for a failure already reported.

-- +goose Up
CREATE TABLE alert_state (
    profile_id INTEGER PRIMARY KEY REFERENCES profiles(id) ON DELETE CASCADE,
    -- 'ok', 'failed' or 'held': the state the last alert reported
    state      TEXT NOT NULL,
    run_id     INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);

-- +goose Down
DROP TABLE alert_state;
