-- Store a message once per (room, client id), trim the stream, announce it: all or nothing, and
-- every key in the room's slot (Redis Cluster). The room's epoch is created with its first
-- message: sha1(incarnation ':' room), so a client that joined the empty room was already told
-- this very epoch by history.lua; the incarnation is random per Redis dataset, so a Redis that
-- lost its data gives every room a new epoch. It is a global key, so the caller passes it: with
-- '' the script answers {'incarnation', ''} when it needs it (only a room's first message does)
-- and the caller reads it and calls again.
-- Idempotency records live in one hash per room, `client id -> "offset id digest time_ms"`, and
-- leave it when their message leaves the stream (or after the ttl): at most history_len of them.
-- A deleted room has a tombstone (`gone`, written by wipe_room.lua in this slot) and takes no
-- message: a send racing the deletion gets {'deleted', ''} instead of making the room anew. The
-- room set is not touched here: the caller lists the room (enlist.lua) after its first message.
-- KEYS: stream, seq, epoch, idempotency hash, gone
-- ARGV: frame prefix, history_len, idempotency ttl (s), incarnation ('' not read yet), the room's
--       channel, room, id, time_ms, client id, name, topic, content
-- Returns {'0' stored | '1' duplicate, '<offset> <id>', epoch}, {'conflict', ''},
-- {'deleted', ''} or {'incarnation', ''}.
if redis.call('EXISTS', KEYS[5]) == 1 then return {'deleted', ''} end
local digest = redis.sha1hex(ARGV[10] .. '\0' .. ARGV[11] .. '\0' .. ARGV[12])
local now = tonumber(ARGV[8])
local record = redis.call('HGET', KEYS[4], ARGV[9])
if record then
  local off, id, seen, at = string.match(record, '^(%d+) (%S+) (%x+) (%d+)$')
  if off and now - tonumber(at) < tonumber(ARGV[3]) * 1000 then
    if seen ~= digest then return {'conflict', ''} end
    local epoch = redis.call('GET', KEYS[3]) or ''
    -- The same id is this very call, retried by the server after a lost reply: not a duplicate.
    if id == ARGV[7] then return {'0', off .. ' ' .. id, epoch} end
    return {'1', off .. ' ' .. id, epoch}
  end
end
local epoch = redis.call('GET', KEYS[3])
if not epoch then
  if ARGV[4] == '' then return {'incarnation', ''} end
  epoch = string.sub(redis.sha1hex(ARGV[4] .. ':' .. ARGV[6]), 1, 12)
  redis.call('SET', KEYS[3], epoch)
end
local off = redis.call('INCR', KEYS[2])
local frame = ARGV[1] .. off .. '}'
local excess = redis.call('XLEN', KEYS[1]) + 1 - tonumber(ARGV[2])
if excess > 0 then
  for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', excess)) do
    local client = e[2][4]
    local kept = client and redis.call('HGET', KEYS[4], client)
    if kept and string.match(kept, '^%d+') == string.sub(e[1], 3) then
      redis.call('HDEL', KEYS[4], client)
    end
  end
end
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], '0-' .. off, 'f', frame, 'c', ARGV[9])
redis.call('HSET', KEYS[4], ARGV[9], off .. ' ' .. ARGV[7] .. ' ' .. digest .. ' ' .. ARGV[8])
redis.call('EXPIRE', KEYS[4], ARGV[3])
redis.call('SPUBLISH', ARGV[5], 'm ' .. epoch .. ' ' .. off .. ' ' .. ARGV[6] .. ' ' .. ARGV[8] .. ' ' .. frame)
return {'0', off .. ' ' .. ARGV[7], epoch}
