-- Increment bucketed counters of one entity (all KEYS share its {hash tag}).
-- ARGV[i]: the TTL of KEYS[i], set when the key is created. Returns nothing.
for i = 1, #KEYS do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('EXPIRE', KEYS[i], ARGV[i]) end
end
return 0
