-- The room's part of its creation anew, in its slot, after create_room.lua listed it: the
-- tombstone goes (append.lua takes messages again) and the epoch is fresh again, so a
-- concurrent wipe_room.lua that read the old one does nothing. Nothing to do for a room that
-- has no tombstone.
-- KEYS: gone, epoch
-- ARGV: a fresh epoch
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[1])
return 1
