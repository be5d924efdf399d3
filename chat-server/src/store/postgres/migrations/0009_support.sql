-- The support desk (durable mode). Only adds; nothing existing changes.
-- A support conversation's room is a private room marked `support` (agents may see it).
ALTER TABLE rooms ADD COLUMN IF NOT EXISTS support boolean NOT NULL DEFAULT false;

-- One row per conversation; `client` is the client key (a lowercase username, `ext:<id>` or
-- `guest:<hex>`), one conversation each. `record` is the whole conversation as the server keeps
-- it (JSON, `support::Conversation`): every change is a compare-and-set on it
-- (`UPDATE ... WHERE record = <the one read>`), so of two concurrent takes exactly one wins.
-- `state` and `taken_by` repeat the record's, for people querying the table.
CREATE TABLE IF NOT EXISTS support_conversations (
    room       text   PRIMARY KEY,
    client     text   NOT NULL UNIQUE,
    state      text   NOT NULL,
    taken_by   text,
    updated_ms bigint NOT NULL,
    record     text   NOT NULL
);
