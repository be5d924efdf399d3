-- Compare-and-set of a support conversation: replace its record only if it is still the one the
-- caller read, and announce it (`q <room>`). Replies 1 when swapped, 0 when it changed meanwhile
-- (the caller reads again), so of two concurrent takes exactly one wins.
-- KEYS: support
-- ARGV: room, the record read, the new record, events channel
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('PUBLISH', ARGV[4], 'q ' .. ARGV[1])
return 1
