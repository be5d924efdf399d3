#!lua flags=no-writes
-- Messages after an offset, for the hub to fill a gap: {epoch, id, frame, id, frame, ...}.
-- KEYS: stream, epoch
-- ARGV: after offset, count
local epoch = redis.call('GET', KEYS[2]) or ''
local entries = redis.call('XRANGE', KEYS[1], '(0-' .. ARGV[1], '+', 'COUNT', ARGV[2])
local out = {epoch}
for _, e in ipairs(entries) do
  table.insert(out, e[1])
  table.insert(out, e[2][2])
end
return out
