-- Record that the message at an offset mentions each user of KEYS (their mentions hashes; one
-- user per call on a Redis Cluster, where each user's keys have their own slot),
-- keeping the newest ARGV[3] offsets per user and room.
-- ARGV: room, offset, most kept
local most = tonumber(ARGV[3])
for _, key in ipairs(KEYS) do
  local kept = redis.call('HGET', key, ARGV[1])
  local list = {}
  if kept then for o in string.gmatch(kept, '%d+') do table.insert(list, o) end end
  table.insert(list, ARGV[2])
  while #list > most do table.remove(list, 1) end
  redis.call('HSET', key, ARGV[1], table.concat(list, ' '))
end
return #KEYS
