#!lua flags=no-writes
-- The longest remaining block (ms, Redis clock) of the given strike hashes; 0 when none.
-- KEYS: strike hashes
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
for i = 1, #KEYS do
  local blocked = tonumber(redis.call('HGET', KEYS[i], 'until') or '0')
  if blocked - now > wait then wait = blocked - now end
end
return wait
