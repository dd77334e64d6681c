-- Applies one batch of stream operations to a dataset group's Redis state, atomically (one EVALSHA).
-- ARGV[1] is the JSON payload built by tailor_stream.lua.encode_batch; KEYS[1] is the offsets hash.
-- Key layout: docs/specs/redis-keys.md. tailor_stream.model.StateModel is the Python reference of these
-- semantics; tests/integration/test_stream_state.py checks the two agree.
local p = cjson.decode(ARGV[1])
local ns = p.ns
local offkey = KEYS[1]
local tps = p.tp
local wm = {}
for i = 1, #tps do
  local cur = redis.call('HGET', offkey, tps[i][1])
  if cur then
    wm[i] = tonumber(cur)
    -- behind what this worker saw applied: Redis lost acknowledged writes (failover); replay from here
    if wm[i] < tps[i][4] then return {'LOST', tps[i][1]} end
  elseif tps[i][2] == 1 then
    return {'LOST', tps[i][1]}
  else
    wm[i] = -1
  end
end

local HC, IW, AW = p.hc, p.iw, p.aw
local STTL, UTTL = p.sttl, p.uttl
local DC = p.dc
local KI = {h = ':h', w = ':w:', wa = ':wa', t = ':t', d = ':d', cap = IW}
local KA = {h = ':ah', w = ':aw:', wa = ':awa', t = ':at', d = ':ad', cap = AW}
-- The key-part escape of tailor_shared.redis_keys.escape (percent-encodes % : *); Lua needs its own copy,
-- tests/integration/test_stream_lua.py checks the two agree.
local ESC = {['%'] = '%25', [':'] = '%3A', ['*'] = '%2A'}
local function esc(s) return (string.gsub(s, '[%%:%*]', ESC)) end

local applied, dups, replays = 0, 0, 0
local stats = {}
local expiry = {}
local counts = {}
local hll_changed = {}
local trends = {}
-- trend windows of the batch: keys built once; records refer to them by index
local tkeys = {}
for i, w in ipairs(p.tw) do tkeys[i] = ns .. ':tr:' .. w[1] .. ':' .. w[2] end

local function stat(name, n) stats[name] = (stats[name] or 0) + n end

-- subjects under a TTL (sessions; users when configured) expire TTL seconds after their newest event
local function ttl_of(subj)
  if string.sub(subj, #ns + 2, #ns + 3) == 's:' then return STTL end
  return UTTL
end

local function touch(ttl, key, score)
  local at = math.floor(tonumber(score)) + ttl
  if (expiry[key] or -1) < at then expiry[key] = at end
end

local function window_add(subj, K, et, member, score, ttl)
  local wkey = subj .. K.w .. et
  if redis.call('ZADD', wkey, score, member) == 1 then
    local akey = subj .. K.wa
    redis.call('ZINCRBY', akey, 1, string.sub(member, 17))
    local n = redis.call('ZCARD', wkey)
    if n == 1 then redis.call('SADD', subj .. K.t, et) end
    if n > K.cap then
      local popped = redis.call('ZPOPMIN', wkey, n - K.cap)
      for j = 1, #popped, 2 do
        local it = string.sub(popped[j], 17)
        if tonumber(redis.call('ZINCRBY', akey, -1, it)) <= 0 then redis.call('ZREM', akey, it) end
      end
    end
    if ttl > 0 then
      touch(ttl, wkey, score)
      touch(ttl, akey, score)
      touch(ttl, subj .. K.t, score)
    end
  end
end

local function history_add(subj, K, member, score, ttl)
  local hkey = subj .. K.h
  if redis.call('ZADD', hkey, score, member) == 1 then
    redis.call('ZREMRANGEBYRANK', hkey, 0, -(HC + 1))
    if ttl > 0 then touch(ttl, hkey, score) end
  end
end

local function add_entry(subj, K, r)
  local ttl = ttl_of(subj)
  window_add(subj, K, r.e, r.mw, r.ts, ttl)
  if r.mh then history_add(subj, K, r.mh, r.ts, ttl) end
end

-- A subject remembers the tokens of its own DC most recent events (not of events merged into it, whose
-- arrival order varies between replays): a token seen again is a duplicate. Timestamps are whole seconds, so
-- a busy subject's events tie: everything as new as the DC-th newest is kept (trimming by rank would drop
-- some of the newest, and a retry right after them would count twice).
local function seen(subj, K, r)
  local dkey = subj .. K.d
  if redis.call('ZADD', dkey, 'NX', r.ts, r.tk) == 0 then return true end
  if redis.call('ZCARD', dkey) > DC then
    local edge = redis.call('ZRANGE', dkey, DC - 1, DC - 1, 'REV', 'WITHSCORES')
    redis.call('ZREMRANGEBYSCORE', dkey, '-inf', '(' .. edge[2])
  end
  local ttl = ttl_of(subj)
  if ttl > 0 then touch(ttl, dkey, r.ts) end
  return false
end

local function merge(sess, user)
  local ttl = ttl_of(user)
  for _, K in ipairs({KI, KA}) do
    local h = redis.call('ZRANGE', sess .. K.h, 0, -1, 'WITHSCORES')
    for j = 1, #h, 2 do history_add(user, K, h[j], h[j + 1], ttl) end
    local types = redis.call('SMEMBERS', sess .. K.t)
    for _, et in ipairs(types) do
      local w = redis.call('ZRANGE', sess .. K.w .. et, 0, -1, 'WITHSCORES')
      for j = 1, #w, 2 do window_add(user, K, et, w[j], w[j + 1], ttl) end
    end
  end
end

local function bump(tbl, key, item)
  local t = tbl[key]
  if not t then t = {}; tbl[key] = t end
  t[item] = (t[item] or 0) + 1
end

local function interaction(r)
  local K = KI
  if r.a then K = KA end
  local subj = ns .. ':' .. r.s
  if seen(subj, K, r) then
    dups = dups + 1
    return
  end
  if r.ln then
    local sess = ns .. ':' .. r.ln
    local ukey = sess .. ':users'
    if redis.call('SADD', ukey, r.s) == 1 then merge(sess, subj) end
    if STTL > 0 then touch(STTL, ukey, r.ts) end
  end
  add_entry(subj, K, r)
  if r.an then
    local users = redis.call('SMEMBERS', subj .. ':users')
    for _, u in ipairs(users) do add_entry(ns .. ':' .. u, K, r) end
  end
  if r.a then
    stat('action_events', 1)
    return
  end
  stat('events', 1)
  for _, et in ipairs({r.e, '*'}) do
    bump(counts, ns .. ':pop:n:' .. et, r.it)
    local hll = ns .. ':pop:hll:' .. et .. ':' .. r.ie
    if redis.call('PFADD', hll, r.s) == 1 then hll_changed[hll] = {ns .. ':pop:u:' .. et, r.it} end
  end
  if r.tw then
    for _, i in ipairs(r.tw) do bump(trends, tkeys[i], r.it) end
  end
end

local function parts(value, kind)
  if kind ~= 'c' then return {value} end
  local out = {}
  for part in string.gmatch(value, '[^|]+') do out[#out + 1] = part end
  return out
end

local function metadata(r)
  local names = {}
  for i, f in ipairs(r.f) do names[i] = f[1] end
  local old = {}
  if #names > 0 then old = redis.call('HMGET', r.k, unpack(names)) end
  for i, f in ipairs(r.f) do
    local name, kind, new = f[1], f[2], f[3]
    local prev = old[i]
    if prev == false then prev = nil end
    if prev ~= new then
      if kind == 'c' or kind == 's' then
        local base = ns .. ':ix:' .. r.en .. ':' .. name .. ':'
        if prev then for _, v in ipairs(parts(prev, kind)) do redis.call('SREM', base .. esc(v), r.id) end end
        if new then for _, v in ipairs(parts(new, kind)) do redis.call('SADD', base .. esc(v), r.id) end end
      elseif kind == 'n' then
        local nkey = ns .. ':nx:' .. r.en .. ':' .. name
        if new then redis.call('ZADD', nkey, new, r.id) else redis.call('ZREM', nkey, r.id) end
      end
      if new then redis.call('HSET', r.k, name, new) else redis.call('HDEL', r.k, name) end
    end
  end
  stat(r.en .. 's', 1)
end

for _, r in ipairs(p.r) do
  if r.o <= wm[r.p] then
    replays = replays + 1
  else
    applied = applied + 1
    if r.m then metadata(r) else interaction(r) end
  end
end

for key, items in pairs(counts) do
  for item, n in pairs(items) do redis.call('ZINCRBY', key, n, item) end
end
for key, items in pairs(trends) do
  for item, n in pairs(items) do redis.call('HINCRBY', key, item, n) end
end
for hll, target in pairs(hll_changed) do
  redis.call('ZADD', target[1], redis.call('PFCOUNT', hll), target[2])
end
-- Window index and newest timestamp come from every trend window of the batch: a record skipped here
-- (replayed, duplicate) was applied before, so its window and timestamp are already counted.
if #p.tw > 0 then
  local mk = ns .. ':tr:maxts'
  local cur = tonumber(redis.call('GET', mk) or '-1')
  if p.tmax > cur then
    redis.call('SET', mk, string.format('%d', p.tmax))
    cur = p.tmax
  end
  for _, w in ipairs(p.tw) do redis.call('ZADD', ns .. ':tr:' .. w[1] .. ':idx', w[2], w[2]) end
  for _, size in ipairs(p.tsz) do
    local idx = ns .. ':tr:' .. size .. ':idx'
    local limit = cur - (p.keep + 1) * size
    local old = redis.call('ZRANGEBYSCORE', idx, '-inf', limit)
    for _, start in ipairs(old) do redis.call('DEL', ns .. ':tr:' .. size .. ':' .. start) end
    if #old > 0 then redis.call('ZREMRANGEBYSCORE', idx, '-inf', limit) end
  end
end
for key, at in pairs(expiry) do
  local cur = redis.call('EXPIRETIME', key)
  if cur == -1 or (cur >= 0 and cur < at) then redis.call('EXPIREAT', key, at) end
end
for i = 1, #tps do
  local high = tps[i][3]
  if high > wm[i] then redis.call('HSET', offkey, tps[i][1], string.format('%d', high)) end
end
stat('records', applied)
stat('duplicates', dups)
for name, n in pairs(stats) do
  if n > 0 then redis.call('HINCRBY', ns .. ':stats', name, n) end
end
return {'OK', applied, dups, replays}
