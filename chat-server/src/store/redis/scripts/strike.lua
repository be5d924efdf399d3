-- Count one failed login against each key (the account's, the address's) and forget a key
-- ARGV[1] ms after its last failure. Returns the failure count of each key.
-- KEYS: strike hashes; ARGV: forget after (ms)
local out = {}
for i = 1, #KEYS do
  local n = redis.call('HINCRBY', KEYS[i], 'failures', 1)
  redis.call('PEXPIRE', KEYS[i], ARGV[1])
  table.insert(out, n)
end
return out
