-- The room's part of a deletion, in its slot: its history, sequence, idempotency records, votes,
-- read positions and clear mark go, its epoch key is set to a fresh epoch (a room created again
-- under the name starts at offset 1 in a new epoch, so no client mistakes its messages for the
-- old ones) and the tombstone `gone` is written, so append.lua refuses the room until it is
-- created again (revive.lua). Only the caller that read the room's epoch as ARGV[1] does it:
-- wiping and reviving both change the epoch, so a wipe that lost a race with the room's
-- creation anew does nothing (store/redis/access.rs reads the epoch before it checks the deleted
-- set). Idempotent otherwise: wiping a wiped room changes nothing but the epoch.
-- KEYS: epoch, gone, stream, seq, idempotency hash, tally, room reads, cleared
-- ARGV: the epoch the caller read ('' for none), a fresh epoch
-- Returns 1 (wiped) or 0 (the epoch moved: read it again).
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8])
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[2])
return 1
