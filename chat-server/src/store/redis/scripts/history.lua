-- The recent page of a room, or exactly what came after `since` when the stream still holds it.
-- KEYS: stream, seq, epoch
-- ARGV: fresh epoch, page size, since epoch ('' for none), since offset
redis.call('SET', KEYS[3], ARGV[1], 'NX')
local epoch = redis.call('GET', KEYS[3])
local head = tonumber(redis.call('GET', KEYS[2]) or '0')
local limit = tonumber(ARGV[2])
local recovered = '1'
if ARGV[3] ~= '' then
  local since = tonumber(ARGV[4])
  if ARGV[3] == epoch and since <= head then
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
