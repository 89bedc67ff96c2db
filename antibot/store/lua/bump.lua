-- Increment bucketed counters of one entity (all KEYS share its {hash tag}).
-- ARGV[i]: the TTL of KEYS[i], set when the key is created; ARGV[#KEYS + i]: the amount
-- to add to KEYS[i] (1 when absent). Returns nothing.
local n = #KEYS
for i = 1, n do
  local by = tonumber(ARGV[n + i]) or 1
  if redis.call('INCRBY', KEYS[i], by) == by then redis.call('EXPIRE', KEYS[i], ARGV[i]) end
end
return 0
