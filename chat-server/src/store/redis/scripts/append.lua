-- Store a message once per idempotency key, trim the stream, announce it: all or nothing.
-- KEYS: stream, seq, epoch, idem, rooms
-- ARGV: frame prefix, history_len, idempotency ttl (s), fresh epoch, events channel, room, id, time_ms
local dup = redis.call('GET', KEYS[4])
if dup then return {'1', dup} end
redis.call('SET', KEYS[3], ARGV[4], 'NX')
local epoch = redis.call('GET', KEYS[3])
local off = redis.call('INCR', KEYS[2])
local frame = ARGV[1] .. off .. '}'
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], '0-' .. off, 'f', frame)
redis.call('SET', KEYS[4], off .. ' ' .. ARGV[7], 'EX', ARGV[3])
redis.call('SADD', KEYS[5], ARGV[6])
redis.call('PUBLISH', ARGV[5], 'm ' .. epoch .. ' ' .. off .. ' ' .. ARGV[6] .. ' ' .. ARGV[8] .. ' ' .. frame)
return {'0', off .. ' ' .. ARGV[7]}
