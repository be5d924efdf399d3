-- Read positions and mentions (durable mode). Only adds; nothing existing changes.
-- `user_key` is the username in lower case; a position never moves down (the upsert's WHERE).
CREATE TABLE IF NOT EXISTS read_positions (
    room         text   NOT NULL,
    user_key     text   NOT NULL,
    display_name text   NOT NULL,
    off          bigint NOT NULL,
    PRIMARY KEY (room, user_key)
);

CREATE INDEX IF NOT EXISTS read_positions_user_key ON read_positions (user_key);

-- One row per (user, room, offset of a message mentioning them) not read yet: a read deletes
-- the rows at or below the new position.
CREATE TABLE IF NOT EXISTS mentions (
    user_key text   NOT NULL,
    room     text   NOT NULL,
    off      bigint NOT NULL,
    PRIMARY KEY (user_key, room, off)
);
