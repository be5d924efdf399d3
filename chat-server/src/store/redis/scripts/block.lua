-- Refuse attempts on each key until now (Redis clock) plus its delay in ms; 0 leaves it alone.
-- KEYS: strike hashes; ARGV: one delay (ms) per key
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, #KEYS do
  local delay = tonumber(ARGV[i])
  if delay > 0 and redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('HSET', KEYS[i], 'until', now + delay)
  end
end
return 1
