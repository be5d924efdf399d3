-- Delete a room, its global part (Redis Cluster: one slot): its name leaves the room set and
-- joins the deleted set (so a racing send or heartbeat does not make it anew), its access record,
-- timers and schedule go, and every replica hears `d <room>`. The caller then wipes the room's
-- own keys in their slot (wipe_room.lua, which also leaves the tombstone append.lua checks).
-- Replies 1, 2 when the room is already in the deleted set (a retry, or a deletion whose wipe
-- was cut short: the caller wipes again), or 0 when there was no such room (or it is the default
-- room).
-- KEYS: rooms, access, deleted, timers, timed
-- ARGV: room, default room, events channel
if ARGV[1] == ARGV[2] then return 0 end
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then
  if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then return 2 end
  return 0
end
redis.call('SREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[5], 'c|' .. ARGV[1], 'x|' .. ARGV[1])
redis.call('PUBLISH', ARGV[3], 'd ' .. ARGV[1])
return 1
