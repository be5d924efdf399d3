-- Move a user's read position in a room up (never down, never above the room's head) and
-- announce it. Two small writes whatever the room's size.
-- KEYS: room reads hash, user reads hash, user mentions hash, room seq
-- ARGV: user, display name, offset, events channel, room
local head = tonumber(redis.call('GET', KEYS[4]) or '0')
local want = math.min(tonumber(ARGV[3]), head)
local old = tonumber(redis.call('HGET', KEYS[2], ARGV[5]) or '0')
if want <= old then return 0 end
local pos = string.format('%d', want)
redis.call('HSET', KEYS[1], ARGV[1], pos .. ' ' .. ARGV[2])
redis.call('HSET', KEYS[2], ARGV[5], pos)
local kept = redis.call('HGET', KEYS[3], ARGV[5])
if kept then
  local left = {}
  for o in string.gmatch(kept, '%d+') do
    if tonumber(o) > want then table.insert(left, o) end
  end
  if #left == 0 then redis.call('HDEL', KEYS[3], ARGV[5])
  else redis.call('HSET', KEYS[3], ARGV[5], table.concat(left, ' ')) end
end
redis.call('PUBLISH', ARGV[4], 'u ' .. ARGV[5] .. ' ' .. ARGV[1])
return 1
