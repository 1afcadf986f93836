-- dirsync schema, version 8: the user list kept between runs, so that a
-- scheduled run reads only the users Okta changed since the last read
-- (filter=lastUpdated gt "…"), and what a delta push needs to know.

-- +goose Up
-- One row per directory user as last read (the native user filter already
-- applied by Okta; the include/exclude set is applied at plan time).
CREATE TABLE user_cache (
    profile_id INTEGER NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL,
    email      TEXT NOT NULL,
    status     TEXT NOT NULL,
    deleted    INTEGER NOT NULL DEFAULT 0,
    disabled   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (profile_id, user_id)
) WITHOUT ROWID;

CREATE TABLE delta_state (
    profile_id    INTEGER PRIMARY KEY REFERENCES profiles(id) ON DELETE CASCADE,
    -- the latest lastUpdated of the cached users, by Okta's clock; NULL
    -- means the user cache cannot be used (the next read is a full one)
    users_through TEXT,
    -- the settings the user cache was read with (see sync.readFingerprint)
    fingerprint   TEXT NOT NULL DEFAULT '',
    -- 1 from just before a push until its hash is saved: a push that
    -- failed or was interrupted makes the next push a full one
    push_pending  INTEGER NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE delta_state;
DROP TABLE user_cache;
