-- Move a user's read position in a room up (never down, never above the room's head), the
-- user's part, in the user's slot (Redis Cluster), after room_read.lua clamped it to the room's
-- head and moved the room's receipt: the user's own position moves, the unread mentions it
-- passes go, and every replica hears `u <room> <user>` (after both writes). Two small writes
-- whatever the room's size.
-- KEYS: user reads hash, user mentions hash
-- ARGV: room, the position (already clamped), events channel, user
-- Returns 1 when the position moved.
local want = tonumber(ARGV[2])
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if want <= old then return 0 end
local pos = string.format('%d', want)
redis.call('HSET', KEYS[1], ARGV[1], pos)
local kept = redis.call('HGET', KEYS[2], ARGV[1])
if kept then
  local left = {}
  for o in string.gmatch(kept, '%d+') do
    if tonumber(o) > want then table.insert(left, o) end
  end
  if #left == 0 then redis.call('HDEL', KEYS[2], ARGV[1])
  else redis.call('HSET', KEYS[2], ARGV[1], table.concat(left, ' ')) end
end
redis.call('PUBLISH', ARGV[3], 'u ' .. ARGV[1] .. ' ' .. ARGV[4])
return 1
