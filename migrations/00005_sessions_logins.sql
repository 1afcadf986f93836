-- dirsync schema, version 5: console sessions and failed logins live in
-- the database, so logout, a password reset or an admin's removal ends a
-- session at once, and a restart neither revives a session nor forgets
-- the login throttle.

-- +goose Up
-- One row per logged-in session. The cookie holds a random token; only
-- its SHA-256 is stored, so reading the database gives no usable session.
CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    admin_id     INTEGER NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    remote_addr  TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_admin ON sessions (admin_id);

-- Failed (and in-flight) login attempts. user_key is a keyed hash of the
-- user name as typed (people type passwords into it), addr the client's IP.
CREATE TABLE login_failures (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    user_key TEXT NOT NULL,
    addr     TEXT NOT NULL,
    at       TEXT NOT NULL
);
CREATE INDEX login_failures_user ON login_failures (user_key, at);
CREATE INDEX login_failures_addr ON login_failures (addr, at);
CREATE INDEX login_failures_at ON login_failures (at);

-- +goose Down
DROP TABLE login_failures;
DROP TABLE sessions;
