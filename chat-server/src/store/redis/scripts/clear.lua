-- Clear a timed room's history (Redis-only mode), the room's part, in its slot, once
-- claim_clear.lua claimed it. Offsets keep growing: the stream and the idempotency records go,
-- the sequence and epoch stay, and `cleared` says through which offset. Nothing new since the
-- last clear: no clear, no notice (so running it twice clears once). The room's votes and reply
-- counts (the tally hash) go with the messages: every one of them was of a message up to `head`.
-- KEYS: stream, seq, idempotency, cleared, tally
-- ARGV: the room's channel, room
-- Returns {the offset cleared through, or -1; the newest message's time (ms) or 0}: the caller
-- keeps that time as the room's last activity for the expiry (touch.lua), since the records it
-- was read from are gone now.
local head = tonumber(redis.call('GET', KEYS[2]) or '0')
if head <= tonumber(redis.call('GET', KEYS[4]) or '0') then return {-1, 0} end
local at = 0
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #last > 0 and last[1][2][4] then
  local record = redis.call('HGET', KEYS[3], last[1][2][4])
  at = tonumber(record and string.match(record, ' (%d+)$') or '0')
end
redis.call('DEL', KEYS[1], KEYS[3], KEYS[5])
redis.call('SET', KEYS[4], head)
redis.call('SPUBLISH', ARGV[1], 'c ' .. head .. ' ' .. ARGV[2])
return {head, at}
