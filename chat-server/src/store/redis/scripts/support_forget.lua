-- Forget a support conversation (its client's account was deleted): its record and, when it
-- still points there, its client's index entry; announce it (`q <room>`). Replies 1 when a
-- record was removed.
-- KEYS: support, support clients
-- ARGV: room, client key, events channel
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HGET', KEYS[2], ARGV[2]) == ARGV[1] then redis.call('HDEL', KEYS[2], ARGV[2]) end
redis.call('PUBLISH', ARGV[3], 'q ' .. ARGV[1])
return removed
