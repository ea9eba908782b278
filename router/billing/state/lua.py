"""The Lua scripts behind the Redis state store; each phase of a request is one script.

How this works. Redis runs a script atomically, so each phase is one round trip that no
other replica can interleave with:

- ADMIT finds the key record by hash, checks disabled, the model (Lua patterns compiled
  from the key's globs at creation) and, unless the request is free (countTokens: it
  stops there, writing nothing), the rpm window (a sorted set of admission times: a
  sliding-window log, exact across replicas), the concurrency slots (a sorted set of
  request ids scored by expiry, so a dead router's slots lapse) and the balance, and only
  when every check passes counts the request, takes the slot and moves the request's
  reservation (priced by the caller, router.billing.pricing) from the balance into a
  reservation hash (also indexed by expiry for the sweep). Reservations held at once
  therefore never exceed the balance, across every replica.
- SETTLE applies `balance += reserved - charge` (may go below zero), appends the ledger
  entry to the stream, releases the slot, deletes the reservation and leaves a `done`
  marker, which ADMIT honours: a request id is admitted once. A router that gave up on
  an admission (Redis too slow, the client gone) withdraws it with SETTLE's `withdraw`
  flag: refunded if it landed, and if it has not landed yet the marker is written
  anyway, so the ADMIT still queued in Redis finds it and takes nothing. When the key's
  record is gone (rotated by a reload meanwhile) it hands the
  difference back to the caller, which credits the key now holding the name. No
  reservation -> "already" with the marker; else, for a request the router admitted
  (it passes the amount reserved), the reservation was lost with the master that held
  it, and the charge is taken from the balance now ("recovered"); else "unknown".
  The expiry sweep is SETTLE with settled_by=expired, so a late settle and the sweep
  cannot both charge.

Clock: the windows, slot and reservation expiries are stamped with Redis's own clock
(TIME, read inside ADMIT), never a router's, so replicas need no synchronised clocks; only
a reservation's `started` (the ledger's) is the router's.

Money is integer micro-credits in strings; Lua numbers are doubles, so arithmetic is
exact below 2^53 and `%d` formats results (tostring would switch to 1e+14 notation).
Scripts touch only the keys passed in KEYS (all derived from the key hash and request id).
"""

from __future__ import annotations

from router.billing.state.outcomes import SettleResult

ADMIT = """
-- KEYS: index, key record, rpm zset, inflight zset, reservation, reservations zset,
--       tpm hash (whole second -> tokens), done marker
-- ARGV: rid, model, reserve (micro-credits), has_key, has_static, key_hash, started (the
--       router's clock, for the ledger), ttl_ms, free ('1': a free request, checked but
--       never counted or reserved), tokens (the request's estimate, for tpm)
-- Every window and expiry is stamped with Redis's own clock (TIME), so replicas whose
-- clocks disagree still share one window (scripts replicate their effects, not TIME).
local live = redis.call('HMGET', KEYS[5], 'name', 'amount')
if live[1] then return {'ok', live[1], live[2]} end
-- Settled, or withdrawn by a router that gave up on this admission: never admitted again.
if redis.call('EXISTS', KEYS[8]) == 1 then return {'err', 'withdrawn', 0} end
local rec = {}
if ARGV[4] == '1' then
  rec = redis.call('HMGET', KEYS[2], 'name', 'disabled', 'patterns', 'rpm',
                   'max_concurrent', 'credits', 'tpm')
end
if not rec[1] then
  -- No keys anywhere (and none configured statically) means auth is off.
  if ARGV[5] == '0' and redis.call('HLEN', KEYS[1]) == 0 then return {'off'} end
  return {'err', 'invalid_token', 0}
end
if rec[2] == '1' then return {'err', 'key_disabled', 0} end
local patterns = cjson.decode(rec[3] or '[]')
if #patterns > 0 then
  local allowed = false
  for _, pattern in ipairs(patterns) do
    if string.find(ARGV[2], pattern) then allowed = true break end
  end
  if not allowed then return {'err', 'model_not_allowed', 0} end
end
if ARGV[9] == '1' then return {'free', rec[1]} end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local rpm = tonumber(rec[4] or '')
if rpm then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - 60000)
  if redis.call('ZCARD', KEYS[3]) >= rpm then
    local oldest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
    return {'err', 'too_many_requests', tonumber(oldest[2]) + 60000 - now}
  end
end
local tpm = tonumber(rec[7] or '')
local second = math.floor(now / 1000)
local need = tonumber(ARGV[10])
if tpm then
  -- The same rule as router.billing.state.token_window, over 60 one-second counts and
  -- the AHEAD seconds after them (left by Redis's clock before it stepped back).
  local fields = {}
  for s = second - 59, second + 2 do fields[#fields + 1] = tostring(s) end
  local counts = redis.call('HMGET', KEYS[7], unpack(fields))
  local used = 0
  for i = 1, 62 do used = used + (tonumber(counts[i]) or 0) end
  if used ~= 0 and used + need > tpm then
    local freed = 0
    for i = 1, 62 do
      freed = freed + (tonumber(counts[i]) or 0)
      if used - freed == 0 or used - freed + need <= tpm then
        return {'err', 'tpm', (second - 60 + i + 60) * 1000 - now}
      end
    end
    return {'err', 'tpm', 60000}
  end
end
local max_concurrent = tonumber(rec[5] or '')
local expires = now + tonumber(ARGV[8])
if max_concurrent then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
  if redis.call('ZCARD', KEYS[4]) >= max_concurrent then
    return {'err', 'too_many_requests', -1}
  end
end
local reserve = '0'
if rec[6] then
  local balance = tonumber(rec[6])
  if balance <= 0 or balance < tonumber(ARGV[3]) then
    return {'err', 'insufficient_quota', balance}
  end
  reserve = ARGV[3]
end
-- Every check passed: only now count the request, take the slot and the credits.
if rpm then
  redis.call('ZADD', KEYS[3], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[3], 61000)
end
if max_concurrent then
  redis.call('ZADD', KEYS[4], expires, ARGV[1])
  redis.call('PEXPIRE', KEYS[4], ARGV[8])
end
if reserve ~= '0' then redis.call('HINCRBY', KEYS[2], 'credits', '-' .. reserve) end
redis.call('HSET', KEYS[5], 'name', rec[1], 'hash', ARGV[6], 'model', ARGV[2],
           'amount', reserve, 'started', ARGV[7], 'expires', expires)
if tpm then
  redis.call('HINCRBY', KEYS[7], tostring(second), ARGV[10])
  redis.call('PEXPIRE', KEYS[7], 61000)
  if redis.call('HLEN', KEYS[7]) > 120 then
    for _, s in ipairs(redis.call('HKEYS', KEYS[7])) do
      if tonumber(s) < second - 59 then redis.call('HDEL', KEYS[7], s) end
    end
  end
  redis.call('HSET', KEYS[5], 'tpm_s', tostring(second), 'tpm_n', ARGV[10])
end
redis.call('ZADD', KEYS[6], expires, ARGV[1])
return {'ok', rec[1], reserve}
"""

SETTLE = """
-- KEYS: reservation, reservations zset, done marker, usage stream, key record, inflight zset,
--       tpm hash
-- ARGV: rid, settled_by, charge (used when settled_by=usage or delivered), done_ttl_s,
--       the ledger entry as a JSON array of field/value strings (without charged and
--       settled_by): one argument instead of two dozen is less to pack per request,
--       the tokens it used for tpm ('' keeps the admission's estimate),
--       the amount the admission reserved ('' when the caller read the reservation here),
--       withdraw ('1': the router gave up on this admission; if it has not landed yet,
--       the done marker makes sure it never does, and the entry's key is the reservation's)
local held = redis.call('HMGET', KEYS[1], 'amount', 'tpm_s', 'tpm_n', 'name')
local amount = held[1]
local reserved = amount
local recovered = '0'
if not amount then
  local previous = redis.call('GET', KEYS[3])
  if previous then return {'already', previous} end
  if ARGV[8] == '1' then
    redis.call('SET', KEYS[3], ARGV[2], 'EX', ARGV[4])
    return {'unknown'}
  end
  if ARGV[7] == '' then return {'unknown'} end
  -- Admitted, yet Redis holds neither the reservation nor its settlement: both were lost
  -- (a failover to a replica that had not received them yet, a flush), and the balance
  -- lost the reservation with them. Nothing is held, so the charge is taken now.
  amount = '0'
  reserved = ARGV[7]
  recovered = '1'
end
local charge = ARGV[3]
if ARGV[2] == 'reservation' or ARGV[2] == 'expired' then
  charge = reserved
elseif ARGV[2] == 'refund' then
  charge = '0'
end
local balance = false
local delta = string.format('%d', tonumber(amount) - tonumber(charge))
local orphan = '0'
if redis.call('HEXISTS', KEYS[5], 'credits') == 1 then
  balance = redis.call('HINCRBY', KEYS[5], 'credits', delta)
elseif redis.call('EXISTS', KEYS[5]) == 0 then
  -- The key's record is gone (rotated or removed since admission): the caller moves
  -- the difference to the key now holding the name, if any.
  orphan = delta
end
local entry = cjson.decode(ARGV[5])
if ARGV[8] == '1' and held[4] then
  for i = 1, #entry - 1, 2 do
    if entry[i] == 'key' then entry[i + 1] = held[4] end
  end
end
entry[#entry + 1] = 'charged'
entry[#entry + 1] = charge
entry[#entry + 1] = 'settled_by'
entry[#entry + 1] = ARGV[2]
redis.call('XADD', KEYS[4], '*', unpack(entry))
if held[2] and ARGV[6] ~= '' then
  -- The estimate becomes the real usage, in the second the request was counted in.
  local delta = tonumber(ARGV[6]) - tonumber(held[3])
  if delta ~= 0 and redis.call('EXISTS', KEYS[7]) == 1 then
    redis.call('HINCRBY', KEYS[7], held[2], string.format('%d', delta))
  end
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[6], ARGV[1])
redis.call('SET', KEYS[3], ARGV[2], 'EX', ARGV[4])
return {'settled', charge, balance, orphan, recovered}
"""

# SETTLE's first reply word -> what it means (tests check every word the script returns).
SETTLE_REPLIES: dict[str, SettleResult] = {
    "settled": SettleResult.SETTLED,
    "already": SettleResult.ALREADY_SETTLED,
    "unknown": SettleResult.UNKNOWN,
}

# ARGV shared by CREATE_KEY and SEED_STATIC:
#   name, hash, models json, patterns json, rpm, max_concurrent, credits ('' = unlimited),
#   disabled, static, tpm
_WRITE_RECORD = """
redis.call('HSET', KEYS[2], 'name', ARGV[1], 'models', ARGV[3], 'patterns', ARGV[4],
           'rpm', ARGV[5], 'max_concurrent', ARGV[6], 'disabled', ARGV[8], 'static', ARGV[9],
           'tpm', ARGV[10])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
"""

CREATE_KEY = (
    """
-- KEYS: index, key record
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 'exists' end
"""
    + _WRITE_RECORD
    + """
if ARGV[7] ~= '' then redis.call('HSET', KEYS[2], 'credits', ARGV[7]) end
return 'ok'
"""
)

SEED_STATIC = (
    """
-- KEYS: index, key record, the record the name pointed at when the caller looked
-- ARGV: as CREATE_KEY, then that previous hash ('' if none)
-- Fields come from routes.yaml at every start and reload. The balance is seeded once, so
-- a restart does not refill it; `granted` remembers the `credits` last applied, and a
-- changed value moves the balance by the change (spent credits stay spent). A key
-- disabled by `router keys disable` (`disabled_admin`) stays disabled.
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and current ~= ARGV[2] then
  if current ~= ARGV[11] then return 'retry' end
  if redis.call('HGET', KEYS[3], 'static') ~= '1' then return 'conflict' end
  -- The key was rotated in routes.yaml: its balance moves to the new hash.
  local old = redis.call('HMGET', KEYS[3], 'credits', 'granted')
  if old[1] and ARGV[7] ~= '' then
    redis.call('HSETNX', KEYS[2], 'credits', old[1])
    if old[2] then redis.call('HSETNX', KEYS[2], 'granted', old[2]) end
  end
  redis.call('DEL', KEYS[3])
end
local by_admin = redis.call('HGET', KEYS[2], 'disabled_admin') == '1'
"""
    + _WRITE_RECORD
    + """
if by_admin then redis.call('HSET', KEYS[2], 'disabled', '1') end
if ARGV[7] == '' then
  redis.call('HDEL', KEYS[2], 'credits', 'granted')
else
  local granted = redis.call('HGET', KEYS[2], 'granted')
  if redis.call('HSETNX', KEYS[2], 'credits', ARGV[7]) == 0 and granted
     and granted ~= ARGV[7] then
    local change = string.format('%d', tonumber(ARGV[7]) - tonumber(granted))
    redis.call('HINCRBY', KEYS[2], 'credits', change)
  end
  redis.call('HSET', KEYS[2], 'granted', ARGV[7])
end
return 'ok'
"""
)

DROP_STATIC = """
-- KEYS: index, key record. ARGV: name, hash. Removes a static key gone from routes.yaml.
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2]
   and redis.call('HGET', KEYS[2], 'static') == '1' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
"""

ADD_CREDITS = """
-- KEYS: key record. ARGV: delta (micro-credits, may be negative)
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
if redis.call('HEXISTS', KEYS[1], 'credits') == 0 then return {'unlimited'} end
return {'ok', redis.call('HINCRBY', KEYS[1], 'credits', ARGV[1])}
"""

DISABLE_KEY = """
-- KEYS: key record
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'disabled', '1', 'disabled_admin', '1')
return 1
"""

ENABLE_KEY = """
-- KEYS: key record. Undoes DISABLE_KEY (routes.yaml's own `disabled: true` comes back
-- with the next seed of the static keys: the admin API refuses to enable such a key).
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'disabled', '0')
redis.call('HDEL', KEYS[1], 'disabled_admin')
return 1
"""
