-- Open a client's support conversation unless they have one: store the record and index it by
-- client, and announce it (`q <room>`). Replies '' when stored, else the existing record.
-- KEYS: support, support clients
-- ARGV: client key, room, record (JSON), events channel
local room = redis.call('HGET', KEYS[2], ARGV[1])
if room then
  local existing = redis.call('HGET', KEYS[1], room)
  if existing then return existing end
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('PUBLISH', ARGV[4], 'q ' .. ARGV[2])
return ''
