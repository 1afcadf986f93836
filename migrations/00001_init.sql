-- dirsync schema, version 1.
-- Times are UTC text in a fixed-width RFC 3339 layout with nanoseconds
-- (2006-01-02T15:04:05.000000000Z), so text order is time order.

-- +goose Up
CREATE TABLE profiles (
    id               INTEGER PRIMARY KEY,
    -- settings as JSON with secrets stripped; NULL until first saved
    settings         TEXT,
    schedule_enabled INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

-- Secrets sealed with AES-256-GCM; the associated data is
-- "profile:<profile_id>:<name>", so a row copied elsewhere does not open.
CREATE TABLE secrets (
    profile_id INTEGER NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    nonce      BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (profile_id, name)
);

CREATE TABLE sync_state (
    profile_id        INTEGER PRIMARY KEY REFERENCES profiles(id) ON DELETE CASCADE,
    hash              TEXT NOT NULL DEFAULT '',
    last_push_at      TEXT,
    last_success_at   TEXT,
    last_run_at       TEXT,
    last_full_read_at TEXT,
    -- gzip of the last pushed import body
    last_body         BLOB
);

-- One row per group; member_ids is a packed list (uvarint length + bytes).
CREATE TABLE member_cache (
    profile_id              INTEGER NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
    group_id                TEXT NOT NULL,
    last_membership_updated TEXT NOT NULL,
    member_ids              BLOB NOT NULL,
    PRIMARY KEY (profile_id, group_id)
);

CREATE TABLE runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    profile_id  INTEGER NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
    trigger     TEXT NOT NULL,
    status      TEXT NOT NULL,
    -- the run-lock holder that runs it ('' if it ran without the lock)
    holder      TEXT NOT NULL DEFAULT '',
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    counts      TEXT NOT NULL DEFAULT '{}',
    warnings    TEXT NOT NULL DEFAULT '[]',
    error       TEXT NOT NULL DEFAULT '',
    hash        TEXT NOT NULL DEFAULT '',
    changes     TEXT,
    timings     TEXT,
    -- gzip of the held-run plan
    held        BLOB
);
CREATE INDEX runs_profile_id ON runs (profile_id, id DESC);
CREATE INDEX runs_running ON runs (profile_id) WHERE status = 'running';
CREATE INDEX runs_pushed ON runs (profile_id, id DESC) WHERE status = 'success';

-- One run at a time per profile, across processes: a lease.
CREATE TABLE run_locks (
    profile_id  INTEGER PRIMARY KEY REFERENCES profiles(id) ON DELETE CASCADE,
    holder      TEXT NOT NULL,
    token       TEXT NOT NULL,
    acquired_at TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);

CREATE TABLE admins (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    last_login_at TEXT
);

CREATE TABLE audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '',
    remote_addr TEXT NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE audit;
DROP TABLE admins;
DROP TABLE run_locks;
DROP TABLE runs;
DROP TABLE member_cache;
DROP TABLE sync_state;
DROP TABLE secrets;
DROP TABLE profiles;
