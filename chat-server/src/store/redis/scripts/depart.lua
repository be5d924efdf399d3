-- A replica shutting down forgets its members at once instead of after the presence ttl.
-- KEYS: instances, presence
-- ARGV: instance, events channel
redis.call('ZREM', KEYS[1], ARGV[1])
local suffix = '|' .. ARGV[1]
local h = redis.call('HKEYS', KEYS[2])
for _, field in ipairs(h) do
  if string.sub(field, -#suffix) == suffix then redis.call('HDEL', KEYS[2], field) end
end
redis.call('PUBLISH', ARGV[2], 'r')
return 1
