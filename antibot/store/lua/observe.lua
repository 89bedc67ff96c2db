-- One entity's counters for one INVITE. Every key shares the entity's {hash tag}.
-- KEYS: cur, prev per counter window; cur, prev per HLL window; cur, prev per
--       read-only window; then the recent list when keep > 0.
-- ARGV: nc, nh, nr, keep; then per counter window: ttl; per HLL window: ttl,
--       element ('' = count only); then, when keep > 0: element ('' = read only), ttl.
-- Returns {counts, recent}: cur/prev per counter window, one union count per HLL
-- window, cur/prev per read-only window; recent = the list as it was before this push.
local nc, nh, nr, keep = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {}
local k, a = 1, 5
for _ = 1, nc do
  local cur = redis.call('INCR', KEYS[k])
  if cur == 1 then redis.call('EXPIRE', KEYS[k], ARGV[a]) end
  out[#out + 1] = cur
  out[#out + 1] = tonumber(redis.call('GET', KEYS[k + 1]) or 0)
  k, a = k + 2, a + 1
end
for _ = 1, nh do
  local el = ARGV[a + 1]
  if el ~= '' and redis.call('PFADD', KEYS[k], el) == 1 then
    redis.call('EXPIRE', KEYS[k], ARGV[a])
  end
  out[#out + 1] = redis.call('PFCOUNT', KEYS[k], KEYS[k + 1])
  k, a = k + 2, a + 2
end
for _ = 1, nr do
  out[#out + 1] = tonumber(redis.call('GET', KEYS[k]) or 0)
  out[#out + 1] = tonumber(redis.call('GET', KEYS[k + 1]) or 0)
  k = k + 2
end
local recent = {}
if keep > 0 then
  recent = redis.call('LRANGE', KEYS[k], 0, keep - 1)
  if ARGV[a] ~= '' then
    redis.call('LPUSH', KEYS[k], ARGV[a])
    redis.call('LTRIM', KEYS[k], 0, keep - 1)
    redis.call('EXPIRE', KEYS[k], ARGV[a + 1])
  end
end
return {out, recent}
