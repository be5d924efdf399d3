-- One user's vote on one message, replacing their earlier one (0 withdraws it), and the
-- message's new counts announced when they changed: all or nothing.
-- Returns {1, up, down}, or {0, 0, 0} when the stream no longer holds the message.
-- KEYS: stream, tally hash, voters hash
-- ARGV: offset, username (lower case), value (1, -1, 0), events channel, room
local off = ARGV[1]
if #redis.call('XRANGE', KEYS[1], '0-' .. off, '0-' .. off) == 0 then return {0, 0, 0} end
local old = tonumber(redis.call('HGET', KEYS[3], ARGV[2]) or '0')
local new = tonumber(ARGV[3])
local field = {[1] = off .. ':u', [-1] = off .. ':d'}
if old ~= new then
  if old ~= 0 then redis.call('HINCRBY', KEYS[2], field[old], -1) end
  if new ~= 0 then
    redis.call('HINCRBY', KEYS[2], field[new], 1)
    redis.call('HSET', KEYS[3], ARGV[2], new)
  else
    redis.call('HDEL', KEYS[3], ARGV[2])
  end
end
local up = tonumber(redis.call('HGET', KEYS[2], field[1]) or '0')
local down = tonumber(redis.call('HGET', KEYS[2], field[-1]) or '0')
if old ~= new then
  redis.call('PUBLISH', ARGV[4], 'v ' .. ARGV[5] .. ' ' .. off .. ' ' .. up .. ' ' .. down)
end
return {1, up, down}
