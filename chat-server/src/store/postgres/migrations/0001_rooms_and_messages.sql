-- The system of record of the durable mode. Never destructive: later migrations only add.
-- A room's `head` is its last offset; appends lock the row, so offsets are dense per room.
-- Its `epoch` is made with the row and changes only if the database lost the room.
CREATE TABLE IF NOT EXISTS rooms (
    name       text PRIMARY KEY,
    epoch      text NOT NULL,
    head       bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One row per stored message; `frame` is the complete `message` frame sent to clients.
-- (room, client_id) is the idempotency key; `digest` = sha256(name \0 topic \0 content).
CREATE TABLE IF NOT EXISTS messages (
    room      text NOT NULL REFERENCES rooms (name),
    off       bigint NOT NULL,
    id        text NOT NULL,
    client_id text NOT NULL,
    digest    text NOT NULL,
    time_ms   bigint NOT NULL,
    frame     text NOT NULL,
    PRIMARY KEY (room, off),
    UNIQUE (room, client_id)
);

-- Retention by age.
CREATE INDEX IF NOT EXISTS messages_time_ms ON messages (time_ms);

INSERT INTO rooms (name, epoch)
VALUES ('general', substr(md5(random()::text || clock_timestamp()::text), 1, 12))
ON CONFLICT (name) DO NOTHING;
