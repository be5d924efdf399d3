-- Accounts and login sessions (durable mode). Only adds; nothing existing changes.
-- `key` is the username in lower case (unique ignoring case); `username` keeps the typed case.
-- `password_hash` is an Argon2id PHC string; the password itself is never stored.
CREATE TABLE IF NOT EXISTS users (
    key           text PRIMARY KEY,
    username      text NOT NULL,
    display_name  text NOT NULL,
    email         text,
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per login session, by the SHA-256 (hex) of its token: the token itself is never stored.
CREATE TABLE IF NOT EXISTS sessions (
    token_hash text PRIMARY KEY,
    user_key   text NOT NULL REFERENCES users (key) ON DELETE CASCADE,
    expires_ms bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS sessions_user_key ON sessions (user_key);
CREATE INDEX IF NOT EXISTS sessions_expires_ms ON sessions (expires_ms);
