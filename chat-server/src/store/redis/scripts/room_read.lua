-- Move a user's read receipt in a room up, the room's part, in its slot: the position asked is
-- clamped to the room's head, the receipt (with the display name) only ever moves up, so two
-- tabs racing never move it back. read.lua then moves the user's own position.
-- KEYS: room reads hash, room seq
-- ARGV: user, display name, offset
-- Returns the clamped position.
local head = tonumber(redis.call('GET', KEYS[2]) or '0')
local want = math.min(tonumber(ARGV[3]), head)
local kept = redis.call('HGET', KEYS[1], ARGV[1])
local old = tonumber(kept and string.match(kept, '^(%d+)') or '0')
if want > old then
  redis.call('HSET', KEYS[1], ARGV[1], string.format('%d', want) .. ' ' .. ARGV[2])
end
return want
