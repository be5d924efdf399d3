-- Add or remove one participant of a private room and announce it (`a <room>`), atomically.
-- The record is `private <creator> <participant>...` (sorted, the creator among them); the
-- creator is never removed. Replies {outcome, record}: done, not_private, full or creator.
-- KEYS: access
-- ARGV: room, 'add' or 'remove', username (lowercase key), max participants, events channel
local record = redis.call('HGET', KEYS[1], ARGV[1])
if not record or string.sub(record, 1, 8) ~= 'private ' then return {'not_private', ''} end
local words = {}
for w in string.gmatch(record, '%S+') do table.insert(words, w) end
local creator = words[2]
local participants, found = {}, false
for i = 3, #words do
  if words[i] == ARGV[3] then found = true end
  if not (ARGV[2] == 'remove' and words[i] == ARGV[3]) then table.insert(participants, words[i]) end
end
if ARGV[2] == 'add' then
  if found then return {'done', record} end
  if #participants >= tonumber(ARGV[4]) then return {'full', record} end
  table.insert(participants, ARGV[3])
else
  if ARGV[3] == creator then return {'creator', record} end
  if not found then return {'done', record} end
end
table.sort(participants)
local updated = 'private ' .. creator .. ' ' .. table.concat(participants, ' ')
redis.call('HSET', KEYS[1], ARGV[1], updated)
redis.call('PUBLISH', ARGV[5], 'a ' .. ARGV[1])
return {'done', updated}
