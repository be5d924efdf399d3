-- Claim a timed room's due clear (Redis-only mode), the global part: moving the due time on
-- (the cadence kept, missed clears skipped) is the claim, so of replicas racing, exactly one
-- gets the room's settings back and clears (clear.lua, in the room's slot). A replica that dies
-- between the two skips that one clear; the next is due a period later.
-- KEYS: timed, timers
-- ARGV: room, now ms, minute ms
-- Returns the room's last known activity (ms) when claimed, else false.
local member = 'c|' .. ARGV[1]
local now = tonumber(ARGV[2])
local due = redis.call('ZSCORE', KEYS[1], member)
if not due or tonumber(due) > now then return false end
local t = redis.call('HGET', KEYS[2], ARGV[1])
local clear, expire, active
if t then clear, expire, active = string.match(t, '^(%d+) (%d+) (%d+)$') end
if not clear or tonumber(clear) == 0 then
  redis.call('ZREM', KEYS[1], member)
  return false
end
local every = tonumber(clear) * tonumber(ARGV[3])
local next_due = tonumber(due) + every
if next_due <= now then next_due = now + every end
redis.call('ZADD', KEYS[1], next_due, member)
return active
