-- Clear a timed room's history when its clear is due (Redis-only mode). Claiming moves the due
-- time on (the cadence kept, missed clears skipped), so of replicas racing, exactly one clears;
-- a replica that died before its clear leaves it due for the next sweeper. Offsets keep growing:
-- the stream and the idempotency records go, the sequence and epoch stay, and `cleared` says
-- through which offset. The newest message's time (its idempotency record's) is kept as the
-- room's last activity for the expiry. Nothing new since the last clear: no clear, no notice.
-- The room's votes and reply counts (the tally hash) go with the messages: every one of them
-- was of a message up to `head`.
-- KEYS: timed, timers, stream, seq, idempotency, cleared, tally
-- ARGV: room, now ms, minute ms, the room's channel
-- Returns the offset cleared through, or -1.
local member = 'c|' .. ARGV[1]
local now = tonumber(ARGV[2])
local due = redis.call('ZSCORE', KEYS[1], member)
if not due or tonumber(due) > now then return -1 end
local t = redis.call('HGET', KEYS[2], ARGV[1])
local clear, expire, active
if t then clear, expire, active = string.match(t, '^(%d+) (%d+) (%d+)$') end
if not clear or tonumber(clear) == 0 then
  redis.call('ZREM', KEYS[1], member)
  return -1
end
local every = tonumber(clear) * tonumber(ARGV[3])
local next_due = tonumber(due) + every
if next_due <= now then next_due = now + every end
redis.call('ZADD', KEYS[1], next_due, member)
local head = tonumber(redis.call('GET', KEYS[4]) or '0')
if head <= tonumber(redis.call('GET', KEYS[6]) or '0') then return -1 end
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
if #last > 0 and last[1][2][4] then
  local record = redis.call('HGET', KEYS[5], last[1][2][4])
  local at = record and string.match(record, ' (%d+)$')
  if at and tonumber(at) > tonumber(active) then active = at end
end
redis.call('HSET', KEYS[2], ARGV[1], clear .. ' ' .. expire .. ' ' .. active)
redis.call('DEL', KEYS[3], KEYS[5], KEYS[7])
redis.call('SET', KEYS[6], head)
redis.call('SPUBLISH', ARGV[4], 'c ' .. head .. ' ' .. ARGV[1])
return head
