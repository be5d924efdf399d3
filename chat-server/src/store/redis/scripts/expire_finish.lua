-- Expire a timed room (Redis-only mode), the global part, after expire.lua wiped its keys:
-- removing its expiry check from the schedule is the claim, so of replicas racing exactly one
-- reports the expiry. The room leaves the room set, its timers, schedule and access record go,
-- and it is kept a minute in `expired`, so a heartbeat that raced the expiry does not list it
-- again (heartbeat.lua). A replica that dies before this leaves the check due: the next sweep
-- finds the room wiped and idle, and finishes.
-- KEYS: timed, timers, rooms, expired, access
-- ARGV: room, now ms, events channel (the room list changed)
-- Returns 1 when this call expired the room.
if redis.call('ZREM', KEYS[1], 'x|' .. ARGV[1]) == 0 then return 0 end
local now = tonumber(ARGV[2])
redis.call('ZREM', KEYS[1], 'c|' .. ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[5], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - 60000)
redis.call('ZADD', KEYS[4], now, ARGV[1])
redis.call('PUBLISH', ARGV[3], 'r')
return 1
