#!lua flags=no-writes
-- Whether a room exists and its access record, read together: a deletion between two separate
-- reads would make a private room look public. Read-only, so joins work while Redis refuses
-- writes. Replies {'0'} for no such room, {'1'} for a room without a record, {'1', record}.
-- KEYS: rooms, access
-- ARGV: room, default room
if ARGV[1] ~= ARGV[2] and redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return {'0'} end
local record = redis.call('HGET', KEYS[2], ARGV[1])
if record then return {'1', record} end
return {'1'}
