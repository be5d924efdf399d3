-- An account was deleted: take the user out of every room's participants and creator field, so
-- an account made later under the same name inherits nothing; announce each private room whose
-- participants changed (`a <room>`). Replies the number of records changed.
-- KEYS: access
-- ARGV: username (lowercase key), events channel
local all = redis.call('HGETALL', KEYS[1])
local changed = 0
for i = 1, #all, 2 do
  local room, record = all[i], all[i + 1]
  local words = {}
  for w in string.gmatch(record, '%S+') do table.insert(words, w) end
  local out, gone = {words[1], words[2]}, false
  if words[2] == ARGV[1] then out[2] = '-' end
  for j = 3, #words do
    if words[j] == ARGV[1] then gone = true else table.insert(out, words[j]) end
  end
  local updated = table.concat(out, ' ')
  if updated ~= record then
    redis.call('HSET', KEYS[1], room, updated)
    changed = changed + 1
    if gone then redis.call('PUBLISH', ARGV[2], 'a ' .. room) end
  end
end
return changed
