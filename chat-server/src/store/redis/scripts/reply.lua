-- Count a stored reply to a parent message and announce the parent's new reply count.
-- KEYS: tally hash
-- ARGV: parent offset, events channel, room
local count = redis.call('HINCRBY', KEYS[1], ARGV[1] .. ':r', 1)
redis.call('PUBLISH', ARGV[2], 'c ' .. ARGV[3] .. ' ' .. ARGV[1] .. ' ' .. count)
return count
