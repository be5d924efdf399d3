-- Replace the frame at one offset of a room's stream (an edit or a tombstone) and announce the
-- notice, all or nothing; the caller computed the new frame from `expected`, so a frame that
-- changed meanwhile is 'changed' (the caller reads again and decides again).
-- A stream entry cannot be rewritten in place and ids only grow, so the entries from the offset
-- on are deleted, the stream's last id is set back below the offset (XSETID, Redis >= 7.0), and
-- they are added again with the same ids and fields, the one at the offset with the new frame:
-- the same offsets, the same length (the trim in append.lua is unchanged), the old text gone.
-- The work is proportional to the messages after the edited one (at most --history-len).
-- KEYS: stream
-- ARGV: offset, expected frame, new frame, the room's channel, notice payload
local id = '0-' .. ARGV[1]
local tail = redis.call('XRANGE', KEYS[1], id, '+')
if #tail == 0 or tail[1][1] ~= id then return 'missing' end
if tail[1][2][2] ~= ARGV[2] then return 'changed' end
local ids = {}
for i, e in ipairs(tail) do ids[i] = e[1] end
-- In chunks: Lua's unpack has a small limit, and a tail can be --history-len (100,000) long.
for i = 1, #ids, 1000 do
  redis.call('XDEL', KEYS[1], unpack(ids, i, math.min(i + 999, #ids)))
end
redis.call('XSETID', KEYS[1], '0-' .. (tonumber(ARGV[1]) - 1))
for i, e in ipairs(tail) do
  local fields = e[2]
  if i == 1 then fields[2] = ARGV[3] end
  redis.call('XADD', KEYS[1], e[1], unpack(fields))
end
redis.call('SPUBLISH', ARGV[4], ARGV[5])
return 'ok'
