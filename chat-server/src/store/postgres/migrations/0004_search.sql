-- Full-text search over message content (`search`, docs/protocol.md). Never destructive: a
-- function and an expression index, no change to any table. The document is the content
-- lower-cased in the C collation with everything but a-z and 0-9 turned into spaces, so its
-- lexemes are exactly the ASCII words the server's matcher sees (query/sql.rs relies on it).
-- Building the index on a large table holds writes to `messages` back until it is done.
CREATE OR REPLACE FUNCTION chat_search_doc(frame text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT to_tsvector('simple'::regconfig,
        regexp_replace(lower((frame::jsonb ->> 'content') COLLATE "C"), '[^a-z0-9]+', ' ', 'g'))
$$;

CREATE INDEX IF NOT EXISTS messages_search ON messages USING gin (chat_search_doc(frame));
