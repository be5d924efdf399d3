-- Durable mode: put an edited frame (or a tombstone) in place of what a room's cache holds at its
-- offset, and announce the notice, in one step. Only a cached offset is replaced (a cache holds
-- consecutive offsets or is a miss; adding a lone one would not help a read). Every member at the
-- offset goes, so an old frame put back by a racing refill is removed by the second pass.
-- KEYS: cache (sorted set, score = offset)
-- ARGV: offset, frame, the room's channel, notice payload ('' for none)
local removed = redis.call('ZREMRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1])
if removed > 0 then redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2]) end
if ARGV[4] ~= '' then redis.call('SPUBLISH', ARGV[3], ARGV[4]) end
return removed
