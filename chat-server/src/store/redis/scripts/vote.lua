-- One user's vote on one message, replacing their earlier one (0 withdraws it), and the
-- message's new counts announced when they changed: all or nothing.
-- The room's tally hash holds, per message, `<offset>:u`, `<offset>:d` (counts) and
-- `<offset>:v:<user>` (each vote). When it has doubled since the last sweep, the fields of
-- messages trimmed from the stream are removed (amortised O(1) per call), so it stays bounded
-- by what the stream keeps. reply.lua sweeps the same way.
-- Returns {1, up, down}, or {0, 0, 0} when the stream no longer holds the message.
-- KEYS: stream, tally hash
-- ARGV: offset, username (lower case), value (1, -1, 0), the room's channel, room, least sweep size
local off = ARGV[1]
if #redis.call('XRANGE', KEYS[1], '0-' .. off, '0-' .. off) == 0 then return {0, 0, 0} end
local voter = off .. ':v:' .. ARGV[2]
local old = tonumber(redis.call('HGET', KEYS[2], voter) or '0')
local new = tonumber(ARGV[3])
local field = {[1] = off .. ':u', [-1] = off .. ':d'}
if old ~= new then
  if old ~= 0 then redis.call('HINCRBY', KEYS[2], field[old], -1) end
  if new ~= 0 then
    redis.call('HINCRBY', KEYS[2], field[new], 1)
    redis.call('HSET', KEYS[2], voter, new)
  else
    redis.call('HDEL', KEYS[2], voter)
  end
end
local up = tonumber(redis.call('HGET', KEYS[2], field[1]) or '0')
local down = tonumber(redis.call('HGET', KEYS[2], field[-1]) or '0')
if old ~= new then
  redis.call('SPUBLISH', ARGV[4], 'v ' .. ARGV[5] .. ' ' .. off .. ' ' .. up .. ' ' .. down)
end
local least = tonumber(ARGV[6])
local swept = tonumber(redis.call('HGET', KEYS[2], 'swept') or '0')
if redis.call('HLEN', KEYS[2]) > 2 * math.max(swept, least) then
  local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
  local first = tonumber(string.sub(oldest[1], 3))
  for _, f in ipairs(redis.call('HKEYS', KEYS[2])) do
    local o = tonumber(string.match(f, '^(%d+):'))
    if o and o < first then redis.call('HDEL', KEYS[2], f) end
  end
  redis.call('HSET', KEYS[2], 'swept', redis.call('HLEN', KEYS[2]))
end
return {1, up, down}
