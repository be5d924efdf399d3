#!lua flags=no-writes
-- The recent page of a room, or exactly what came after `since` when the stream still holds it.
-- Read-only, so joins and recovery work while Redis refuses writes. Every key is in the room's
-- slot (Redis Cluster). A room without messages has no epoch key yet and reports the epoch its
-- first message will create (append.lua) from the dataset's incarnation, a global key the caller
-- passes: with '' the script answers {'?'} when it needs it (only for such a room) and the caller
-- reads it and calls again; '-' means this Redis has no incarnation yet, and the epoch is '0'
-- (a joiner that holds '0' is resynced later).
-- A `since` at or before the room's last clear is not honoured either: the client may still show
-- cleared messages, so it starts over from the recent page (timed rooms).
-- KEYS: stream, seq, epoch, cleared
-- ARGV: room, page size, since epoch ('' for none), since offset, incarnation ('' not read yet,
--       '-' none)
local epoch = redis.call('GET', KEYS[3])
if not epoch then
  if ARGV[5] == '' then return {'?'} end
  epoch = ARGV[5] == '-' and '0' or string.sub(redis.sha1hex(ARGV[5] .. ':' .. ARGV[1]), 1, 12)
end
local head = tonumber(redis.call('GET', KEYS[2]) or '0')
local limit = tonumber(ARGV[2])
local recovered = '1'
if ARGV[3] ~= '' then
  local since = tonumber(ARGV[4])
  local cleared = tonumber(redis.call('GET', KEYS[4]) or '0')
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
