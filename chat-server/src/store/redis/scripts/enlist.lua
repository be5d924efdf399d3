-- List a room after its first message (append.lua, in the room's slot, stored it), unless it
-- was deleted meanwhile: then the caller completes the deletion (wipe_room.lua) and refuses the
-- send, so a send racing a deletion never makes the room anew. Global keys only.
-- KEYS: rooms, deleted
-- ARGV: room
-- Returns 1 (listed) or 0 (deleted).
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
return 1
