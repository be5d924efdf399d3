-- Count a stored reply to a parent message and announce the parent's new reply count; sweeps
-- the fields of trimmed messages from the tally hash like vote.lua.
-- KEYS: stream, tally hash
-- ARGV: parent offset, the room's channel, room, least sweep size
local count = redis.call('HINCRBY', KEYS[2], ARGV[1] .. ':r', 1)
redis.call('SPUBLISH', ARGV[2], 'p ' .. ARGV[3] .. ' ' .. ARGV[1] .. ' ' .. count)
local least = tonumber(ARGV[4])
local swept = tonumber(redis.call('HGET', KEYS[2], 'swept') or '0')
if redis.call('HLEN', KEYS[2]) > 2 * math.max(swept, least) then
  local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
  if oldest then
    local first = tonumber(string.sub(oldest[1], 3))
    for _, f in ipairs(redis.call('HKEYS', KEYS[2])) do
      local o = tonumber(string.match(f, '^(%d+):'))
      if o and o < first then redis.call('HDEL', KEYS[2], f) end
    end
  end
  redis.call('HSET', KEYS[2], 'swept', redis.call('HLEN', KEYS[2]))
end
return count
