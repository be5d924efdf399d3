#!lua flags=no-writes
-- The recent page of a room, or exactly what came after `since` when the stream still holds it.
-- Read-only, so joins and recovery work while Redis refuses writes. A room without messages has
-- no epoch key yet and reports the epoch its first message will create (append.lua), or '0' when
-- this Redis has no incarnation yet either (a joiner that holds '0' is resynced later).
-- A `since` at or before the room's last clear is not honoured either: the client may still show
-- cleared messages, so it starts over from the recent page (timed rooms).
-- KEYS: stream, seq, epoch, incarnation, cleared
-- ARGV: room, page size, since epoch ('' for none), since offset
local epoch = redis.call('GET', KEYS[3])
if not epoch then
  local incarnation = redis.call('GET', KEYS[4])
  epoch = incarnation and string.sub(redis.sha1hex(incarnation .. ':' .. ARGV[1]), 1, 12) or '0'
end
local head = tonumber(redis.call('GET', KEYS[2]) or '0')
local limit = tonumber(ARGV[2])
local recovered = '1'
if ARGV[3] ~= '' then
  local since = tonumber(ARGV[4])
  local cleared = tonumber(redis.call('GET', KEYS[5]) or '0')
  if ARGV[3] == epoch and since <= head and (cleared == 0 or since > cleared) then
    if since == head then return {epoch, tostring(head), '1'} end
    local first = '0-' .. (since + 1)
    local entries = redis.call('XRANGE', KEYS[1], first, '+', 'COUNT', limit)
    if #entries > 0 and entries[1][1] == first then
      local out = {epoch, tostring(head), '1'}
      for _, e in ipairs(entries) do table.insert(out, e[2][2]) end
      return out
    end
  end
  recovered = '0'
end
local entries = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', limit)
local out = {epoch, tostring(head), recovered}
for i = #entries, 1, -1 do table.insert(out, entries[i][2][2]) end
return out
