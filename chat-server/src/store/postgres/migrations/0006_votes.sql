-- Replies and votes (durable mode's system of record). Only adds; nothing existing changes.
-- One vote per (room, message, user): value 1 (up) or -1 (down); a withdrawn vote is no row.
-- Rows leave with their message (retention, a cleared room).
CREATE TABLE IF NOT EXISTS votes (
    room     text NOT NULL,
    off      bigint NOT NULL,
    username text NOT NULL,
    value    smallint NOT NULL CHECK (value IN (-1, 1)),
    PRIMARY KEY (room, off, username),
    FOREIGN KEY (room, off) REFERENCES messages (room, off) ON DELETE CASCADE
);

-- One row per stored reply: the reply (room, off) and the offset of its parent in the same room.
CREATE TABLE IF NOT EXISTS replies (
    room   text NOT NULL,
    off    bigint NOT NULL,
    parent bigint NOT NULL,
    PRIMARY KEY (room, off),
    FOREIGN KEY (room, off) REFERENCES messages (room, off) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS replies_parent ON replies (room, parent);
