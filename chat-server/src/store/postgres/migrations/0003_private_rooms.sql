-- Private rooms and room deletion (#13). Only adds: existing rooms stay public and nobody's.
-- `creator` is the username (lowercase key) of the registered user who created the room.
ALTER TABLE rooms ADD COLUMN IF NOT EXISTS creator text;
ALTER TABLE rooms ADD COLUMN IF NOT EXISTS private boolean NOT NULL DEFAULT false;

-- The participants of a private room (the creator among them); they go with their room.
CREATE TABLE IF NOT EXISTS room_participants (
    room     text NOT NULL REFERENCES rooms (name) ON DELETE CASCADE,
    username text NOT NULL,
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room, username)
);
CREATE INDEX IF NOT EXISTS room_participants_username ON room_participants (username);

-- Rooms deleted and not created again: a send or read racing a deletion does not make the room
-- anew (a missing room row is otherwise made by the first message or read).
CREATE TABLE IF NOT EXISTS deleted_rooms (
    name       text PRIMARY KEY,
    deleted_at timestamptz NOT NULL DEFAULT now()
);
