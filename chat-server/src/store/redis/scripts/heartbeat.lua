-- Record this replica as alive (Redis clock) with its per-room member counts; 0 removes a room.
-- KEYS: instances, presence
-- ARGV: instance, events channel ('' to stay quiet), then room, count pairs
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
for i = 3, #ARGV, 2 do
  local field = ARGV[i] .. '|' .. ARGV[1]
  if ARGV[i + 1] == '0' then
    redis.call('HDEL', KEYS[2], field)
  else
    redis.call('HSET', KEYS[2], field, ARGV[i + 1])
  end
end
if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[2], 'r') end
return 1
