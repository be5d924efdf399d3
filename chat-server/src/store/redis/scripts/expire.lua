-- Expire a timed room idle for its expiry (Redis-only mode), the room's part, in its slot: the
-- room is idle when its newest message (its idempotency record's time) and the last activity
-- the caller read from `timers` are both older than the expiry; then its keys go (history,
-- sequence, epoch, records, clear mark, votes and reply counts, read positions) and its members
-- hear `x <room>`, all at once, so no message slips in between the check and the wipe. Running
-- it again on a wiped room wipes nothing and announces again (harmless: the room has no members
-- left). The caller then removes the room from the global keys (expire_finish.lua), or moves
-- the check to the deadline returned.
-- KEYS: stream, seq, epoch, idempotency, cleared, tally, room reads
-- ARGV: now ms, minute ms, expiry (minutes), last activity (ms), the room's channel, room
-- Returns 0 (expired) or the new deadline (ms).
local now = tonumber(ARGV[1])
local active = tonumber(ARGV[4])
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #last > 0 and last[1][2][4] then
  local record = redis.call('HGET', KEYS[4], last[1][2][4])
  local at = record and tonumber(string.match(record, ' (%d+)$'))
  if at and at > active then active = at end
end
local deadline = active + tonumber(ARGV[3]) * tonumber(ARGV[2])
if deadline > now then return deadline end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7])
redis.call('SPUBLISH', ARGV[5], 'x ' .. ARGV[6])
return 0
