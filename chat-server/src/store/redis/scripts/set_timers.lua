-- Give a room its timers (Redis-only mode): settings and last activity in the timers hash, due
-- times in the schedule. A clear whose interval is unchanged keeps its due time (a restart that
-- re-applies --general-clear-mins keeps the cadence); no timers at all leaves the schedule.
-- KEYS: timers, timed
-- ARGV: room, clear mins, expire mins, now ms, minute ms, events channel
local room, clear, expire = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now, minute = tonumber(ARGV[4]), tonumber(ARGV[5])
local c, x = 'c|' .. room, 'x|' .. room
local old = redis.call('HGET', KEYS[1], room)
local old_clear = old and tonumber(string.match(old, '^(%d+)')) or -1
if clear == 0 and expire == 0 then
  redis.call('HDEL', KEYS[1], room)
  redis.call('ZREM', KEYS[2], c, x)
else
  redis.call('HSET', KEYS[1], room, clear .. ' ' .. expire .. ' ' .. ARGV[4])
  if clear == 0 then
    redis.call('ZREM', KEYS[2], c)
  elseif clear ~= old_clear or not redis.call('ZSCORE', KEYS[2], c) then
    redis.call('ZADD', KEYS[2], now + clear * minute, c)
  end
  if expire == 0 then
    redis.call('ZREM', KEYS[2], x)
  else
    redis.call('ZADD', KEYS[2], now + expire * minute, x)
  end
end
redis.call('PUBLISH', ARGV[6], 'r')
return 1
