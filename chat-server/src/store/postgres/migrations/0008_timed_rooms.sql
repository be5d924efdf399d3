-- Timed rooms (durable mode). Only adds; nothing existing changes.
-- A room's timers in minutes (0 = never), when its next clear is due (ms, null without one), its
-- last activity before the messages it holds now (creation, or the newest cleared message; the
-- newest message stored counts too), and the offset its history was last cleared through.
-- The row goes with its room when the room expires.
CREATE TABLE IF NOT EXISTS room_timers (
    room              text PRIMARY KEY REFERENCES rooms (name),
    clear_every_mins  integer NOT NULL DEFAULT 0,
    expire_after_mins integer NOT NULL DEFAULT 0,
    next_clear_ms     bigint,
    active_ms         bigint NOT NULL,
    cleared_through   bigint NOT NULL DEFAULT 0
);

CREATE INDEX IF NOT EXISTS room_timers_next_clear_ms ON room_timers (next_clear_ms);
