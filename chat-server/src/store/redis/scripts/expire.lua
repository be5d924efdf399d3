-- Delete a timed room idle for its expiry (Redis-only mode). The check is due at the last known
-- activity + the expiry; when a message came since (the newest one's time, from its idempotency
-- record), the check is moved to that message's time + the expiry instead. Claiming deletes the
-- schedule entry, so of replicas racing, exactly one expires the room.
-- The room is kept a minute in `expired`, so a heartbeat that raced the expiry does not list it
-- again (heartbeat.lua).
-- Its votes and reply counts (the tally hash) go too, so a room made again under the name starts
-- from none.
-- A private room's access record and the room's read positions go as well (as with a deletion).
-- KEYS: timed, timers, stream, seq, epoch, idempotency, cleared, rooms, expired, tally, access,
--       room reads
-- ARGV: room, now ms, minute ms, the room's channel, events channel (the room list changed)
-- Returns 1 when the room expired.
local member = 'x|' .. ARGV[1]
local now = tonumber(ARGV[2])
local due = redis.call('ZSCORE', KEYS[1], member)
if not due or tonumber(due) > now then return 0 end
local t = redis.call('HGET', KEYS[2], ARGV[1])
local clear, expire, active
if t then clear, expire, active = string.match(t, '^(%d+) (%d+) (%d+)$') end
if not expire or tonumber(expire) == 0 then
  redis.call('ZREM', KEYS[1], member)
  return 0
end
active = tonumber(active)
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
if #last > 0 and last[1][2][4] then
  local record = redis.call('HGET', KEYS[6], last[1][2][4])
  local at = record and tonumber(string.match(record, ' (%d+)$'))
  if at and at > active then active = at end
end
local deadline = active + tonumber(expire) * tonumber(ARGV[3])
if deadline > now then
  redis.call('ZADD', KEYS[1], deadline, member)
  return 0
end
redis.call('DEL', KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[10], KEYS[12])
redis.call('HDEL', KEYS[11], ARGV[1])
redis.call('SREM', KEYS[8], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[9], '-inf', now - 60000)
redis.call('ZADD', KEYS[9], now, ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], member, 'c|' .. ARGV[1])
redis.call('SPUBLISH', ARGV[4], 'x ' .. ARGV[1])
redis.call('PUBLISH', ARGV[5], 'r')
return 1
