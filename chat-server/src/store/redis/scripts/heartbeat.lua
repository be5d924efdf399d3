-- Record this replica as alive (Redis clock) with its per-room presence ("<registered> <guests>
-- <users JSON>"); '0' removes a room. Room '*' (all connections, for totals) is not a room.
-- A room this replica has members in is (re-)registered: after Redis lost its data, the rooms
-- people are in come back with the next heartbeat; a deleted room does not (its members are
-- being told, and leave), nor does a private one (its participants were lost with the data: it
-- must not come back public; its members are told it is gone), nor a room that expired in the
-- last minute (this heartbeat may predate the expiry).
-- KEYS: instances, presence, rooms, deleted, expired
-- ARGV: instance, events channel, '1' to announce a change ('0' to stay quiet), the number n of
--       private rooms, the n private room names, then room, presence pairs
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
local changed = ARGV[3] == '1'
local n = tonumber(ARGV[4])
local private = {}
for i = 5, 4 + n do private[ARGV[i]] = true end
for i = 5 + n, #ARGV, 2 do
  local field = ARGV[i] .. '|' .. ARGV[1]
  if ARGV[i + 1] == '0' then
    redis.call('HDEL', KEYS[2], field)
  else
    redis.call('HSET', KEYS[2], field, ARGV[i + 1])
    local gone = redis.call('ZSCORE', KEYS[5], ARGV[i])
    local just_expired = gone and tonumber(gone) > now - 60000
    if ARGV[i] ~= '*' and not private[ARGV[i]] and not just_expired
        and redis.call('SISMEMBER', KEYS[3], ARGV[i]) == 0
        and redis.call('SISMEMBER', KEYS[4], ARGV[i]) == 0 then
      redis.call('SADD', KEYS[3], ARGV[i])
      changed = true
    end
  end
end
if changed then redis.call('PUBLISH', ARGV[2], 'r') end
return 1
