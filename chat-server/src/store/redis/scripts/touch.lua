-- Move a timed room's last known activity up to ARGV[2] (ms), keeping its settings (Redis-only
-- mode; after clear.lua dropped the records the expiry reads it from). Never down, and nothing
-- for a room without timers.
-- KEYS: timers
-- ARGV: room, time ms
local t = redis.call('HGET', KEYS[1], ARGV[1])
if not t then return 0 end
local clear, expire, active = string.match(t, '^(%d+) (%d+) (%d+)$')
if not active or tonumber(active) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], clear .. ' ' .. expire .. ' ' .. ARGV[2])
return 1
