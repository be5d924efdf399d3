-- Create a room unless it exists or the limit is reached, with its access record when it has
-- one (a creator, participants); a deleted name is free again. Announce the change.
-- KEYS: rooms, access, deleted
-- ARGV: name, max rooms, events channel, default room, access record ('' for none)
if ARGV[1] == ARGV[4] or redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 'exists' end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 'full' end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
if ARGV[5] ~= '' then redis.call('HSET', KEYS[2], ARGV[1], ARGV[5]) end
redis.call('PUBLISH', ARGV[3], 'r')
return 'created'
