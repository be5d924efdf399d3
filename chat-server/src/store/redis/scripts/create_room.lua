-- Create a room unless it exists or the limit is reached; announce the change.
-- KEYS: rooms
-- ARGV: name, max rooms, events channel, default room
if ARGV[1] == ARGV[4] or redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 'exists' end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 'full' end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[3], 'r')
return 'created'
