#!lua flags=no-writes
-- The counts of a page of messages and one reader's votes on them, in one call.
-- KEYS: tally hash, then the voters hash of each offset (in ARGV's order)
-- ARGV: username (lower case, or '' for none), then the offsets
-- Returns per offset: up, down, replies, the reader's vote (0 when none).
local out = {}
for i = 2, #ARGV do
  local off = ARGV[i]
  local counts = redis.call('HMGET', KEYS[1], off .. ':u', off .. ':d', off .. ':r')
  local mine = 0
  if ARGV[1] ~= '' then mine = tonumber(redis.call('HGET', KEYS[i], ARGV[1]) or '0') end
  out[#out + 1] = tonumber(counts[1] or '0')
  out[#out + 1] = tonumber(counts[2] or '0')
  out[#out + 1] = tonumber(counts[3] or '0')
  out[#out + 1] = mine
end
return out
