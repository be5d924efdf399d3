-- Whether a timed room's expiry check is due (Redis-only mode), the global part: due, with the
-- room's expiry and last known activity for expire.lua (in the room's slot). A room whose
-- expiry was turned off leaves the schedule. Claims nothing: expire_finish.lua does.
-- KEYS: timed, timers
-- ARGV: room, now ms
-- Returns {expiry (minutes), last activity (ms)} when due, else false.
local member = 'x|' .. ARGV[1]
local due = redis.call('ZSCORE', KEYS[1], member)
if not due or tonumber(due) > tonumber(ARGV[2]) then return false end
local t = redis.call('HGET', KEYS[2], ARGV[1])
local clear, expire, active
if t then clear, expire, active = string.match(t, '^(%d+) (%d+) (%d+)$') end
if not expire or tonumber(expire) == 0 then
  redis.call('ZREM', KEYS[1], member)
  return false
end
return {expire, active}
