-- Delete a room: its history, sequence, idempotency records and access record go, its name
-- leaves the room set and joins the deleted set (so a racing send or heartbeat does not make it
-- anew), and its epoch key is set to a fresh epoch: a room created again under the name starts
-- at offset 1 in a new epoch, so no client mistakes its messages for the old ones. Announces
-- `d <room>`. Its votes and reply counts (tally), read positions, timers and schedule go too, as
-- with a timed room's expiry. Replies 1, or 0 when there was no such room (or it is the default
-- room).
-- KEYS: rooms, access, deleted, stream, seq, epoch, idempotency hash, tally, room reads, cleared,
--       timers, timed
-- ARGV: room, default room, fresh epoch, events channel
if ARGV[1] == ARGV[2] or redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('SREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('DEL', KEYS[4], KEYS[5], KEYS[7], KEYS[8], KEYS[9], KEYS[10])
redis.call('HDEL', KEYS[11], ARGV[1])
redis.call('ZREM', KEYS[12], 'c|' .. ARGV[1], 'x|' .. ARGV[1])
redis.call('SET', KEYS[6], ARGV[3])
redis.call('PUBLISH', ARGV[4], 'd ' .. ARGV[1])
return 1
