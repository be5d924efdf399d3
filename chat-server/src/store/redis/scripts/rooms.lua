-- The room names and the presence entries of live replicas, for the server to sum:
-- {n, room_1 .. room_n, room, value, room, value, ...} (value: "<registered> <guests> <users JSON>").
-- Replicas whose heartbeat is older than the ttl are forgotten, with their entries.
-- KEYS: instances, rooms, presence
-- ARGV: ttl (ms), default room
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cutoff = now - tonumber(ARGV[1])
local live = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. cutoff, '+inf')) do live[id] = true end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', cutoff)
-- Only when missing: SADD is refused while Redis is out of memory, even when it would not add.
if redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 0 then redis.call('SADD', KEYS[2], ARGV[2]) end
local names = redis.call('SMEMBERS', KEYS[2])
local out = {tostring(#names)}
for _, room in ipairs(names) do table.insert(out, room) end
local h = redis.call('HGETALL', KEYS[3])
for i = 1, #h, 2 do
  local sep = string.find(h[i], '|', 1, true) or 0
  local room, id = string.sub(h[i], 1, sep - 1), string.sub(h[i], sep + 1)
  if sep > 0 and live[id] then
    table.insert(out, room)
    table.insert(out, h[i + 1])
  else
    redis.call('HDEL', KEYS[3], h[i])
  end
end
return out
