/**
 * The Redis Lua scripts of credit control (credit-control.service.ts explains the design). Each
 * runs atomically in Redis, so a check and the hold it places cannot interleave with another
 * process's. Hand-written Lua because no library keeps holds with these rules; every script gets
 * the same six keys of one account (KEYS below) and the helpers in LIB. Imports nothing.
 *
 * Amounts are integer micro-units held in Lua numbers (doubles): exact below 2^53 micro-units
 * (9·10^9 currency units); credit control clamps the grant so rate × seconds stays below 2^50.
 * Numbers go back to Redis through `f` (%.0f), never tostring (which would write 1e+15).
 *
 * KEYS[1] H  hash of holds: id → "state|micros|expiresAtMs|seq", plus the running sums
 *            #lc (live calls), #lm (micros held by live calls), #em (ended, not yet rated),
 *            #sm (settled: debited as ledger entry `seq`, which the snapshot may not include yet)
 * KEYS[2] X  sorted set: hold id by expiry (ms), so expired holds leave without scanning H
 * KEYS[3] Q  sorted set: settled hold id by ledger seq, so a snapshot at seq N prunes ≤ N
 * KEYS[4] S  the account snapshot: ok, seq, ver, bal, cl, st, maxc, dl, day, spent, at, p
 * KEYS[5]    the epoch of the billing keys (a new one after Redis lost them)
 * KEYS[6]    "recovering" marker (PX): authorizations wait while nodes re-assert their live holds
 */

const LIB = `
local H, X, Q, S = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local KEEP_MS = 172800000
local function f(x) return string.format('%.0f', x) end
local function parse(v)
  local s, m, e, q = string.match(v or '', '^(%a)|(%-?%d+)|(%d+)|(%d+)$')
  if s == nil then return nil end
  return s, tonumber(m), tonumber(e), tonumber(q)
end
local function sums(s, m, sign)
  if s == 'L' then redis.call('HINCRBY', H, '#lc', sign); redis.call('HINCRBY', H, '#lm', f(sign * m))
  elseif s == 'E' then redis.call('HINCRBY', H, '#em', f(sign * m))
  elseif s == 'S' then redis.call('HINCRBY', H, '#sm', f(sign * m)) end
end
local function remove(id)
  local cur = redis.call('HGET', H, id)
  if not cur then return false end
  local s, m = parse(cur)
  if s then sums(s, m, -1) end
  redis.call('HDEL', H, id); redis.call('ZREM', X, id); redis.call('ZREM', Q, id)
  return true
end
local function put(id, v)
  remove(id)
  local s, m, e, q = parse(v)
  redis.call('HSET', H, id, v); sums(s, m, 1); redis.call('ZADD', X, e, id)
  if s == 'S' then redis.call('ZADD', Q, q, id) end
  redis.call('PEXPIRE', H, KEEP_MS); redis.call('PEXPIRE', X, KEEP_MS); redis.call('PEXPIRE', Q, KEEP_MS)
end
local function expire(now)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', X, '-inf', now, 'LIMIT', 0, 500)) do
    if not remove(id) then redis.call('ZREM', X, id); redis.call('ZREM', Q, id) end
  end
end
local function prune(seq)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', Q, '-inf', seq, 'LIMIT', 0, 1000)) do
    if not remove(id) then redis.call('ZREM', Q, id) end
  end
end
local function held()
  local a = redis.call('HMGET', H, '#lc', '#lm', '#em', '#sm')
  return tonumber(a[1] or '0'), tonumber(a[2] or '0') + tonumber(a[3] or '0') + tonumber(a[4] or '0')
end
-- Writes a snapshot read from PostgreSQL unless the stored one is newer (higher ledger seq or
-- settings version): a slow reader can never put back an older balance or older limits.
local function snapshot(a, i)
  local cur = redis.call('HMGET', S, 'seq', 'ver')
  if cur[1] and (tonumber(cur[1]) > tonumber(a[i]) or tonumber(cur[2]) > tonumber(a[i + 1])) then return false end
  redis.call('HSET', S, 'ok', '1', 'seq', a[i], 'ver', a[i + 1], 'bal', a[i + 2], 'cl', a[i + 3], 'st', a[i + 4], 'maxc', a[i + 5],
    'dl', a[i + 6], 'day', a[i + 7], 'spent', a[i + 8], 'at', a[i + 9], 'p', a[i + 10])
  redis.call('PEXPIRE', S, KEEP_MS)
  return true
end
local function prunePastSnapshot()
  local seq = redis.call('HGET', S, 'seq')
  if seq then prune(seq) end
end
`;

/** Number of ARGV slots a snapshot takes (see `snapshot` in LIB and snapshotArgs in the service). */
export const SNAPSHOT_ARGS = 11;

/**
 * Authorize. ARGV: now, epoch, ver, dayStart, maxAgeMs, holdId, defaultMax ('' none), cap,
 * feeMicros, rateMicrosPerMinute, first, next, extraSeconds (setup + grace).
 * Answers {'ok', seconds, micros} | {'reassert'} | {'wait', ms} | {'load'} | {'stale', ver, profile}
 * | {'suspended'} | {'concurrent', live, max, defaulted} | {'balance'} | {'daily', spent, held, room}.
 */
export const AUTHORIZE =
  LIB +
  `
local now = tonumber(ARGV[1])
local ep = redis.call('GET', KEYS[5])
if not ep or ep ~= ARGV[2] then return {'reassert'} end
local rec = redis.call('PTTL', KEYS[6])
if rec > 0 then return {'wait', rec} end
local s = redis.call('HMGET', S, 'ok', 'seq', 'ver', 'bal', 'cl', 'st', 'maxc', 'dl', 'day', 'spent', 'at', 'p')
if s[1] ~= '1' or now - tonumber(s[11]) > tonumber(ARGV[5]) then return {'load'} end
if s[8] ~= '' and tonumber(s[9]) ~= tonumber(ARGV[4]) then return {'load'} end
if s[3] ~= ARGV[3] then return {'stale', s[3], s[12]} end
expire(now)
prune(s[2])
local live, h = held()
if s[6] ~= 'active' then return {'suspended'} end
local maxc = nil
if s[7] ~= '' then maxc = tonumber(s[7]) elseif ARGV[7] ~= '' then maxc = tonumber(ARGV[7]) end
if maxc and live >= maxc then return {'concurrent', live, maxc, s[7] == '' and 1 or 0} end
local cap, fee, rate, first, nxt = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
local function cost(b) local x = rate * b; local r = math.fmod(x, 60); return fee + (x - r) / 60 + (r > 0 and 1 or 0) end
-- The longest call A micro-units pay, in whole increments, capped: rating.ts affordableSeconds.
local function afford(A)
  if cap < first or cost(first) > A then return 0 end
  local steps = math.floor((cap - first) / nxt)
  if cost(first + steps * nxt) <= A then return first + steps * nxt end
  local k = math.floor((60 * (A - fee) - rate * first) / (rate * nxt))
  if k < 0 then k = 0 end
  if k > steps then k = steps end
  while k > 0 and cost(first + k * nxt) > A do k = k - 1 end
  while k < steps and cost(first + (k + 1) * nxt) <= A do k = k + 1 end
  return first + k * nxt
end
local secs = afford(tonumber(s[4]) + tonumber(s[5]) - h)
if secs == 0 then return {'balance'} end
if s[8] ~= '' then
  local room = tonumber(s[8]) - tonumber(s[10]) - h
  local d = afford(room)
  if d < secs then secs = d end
  if secs == 0 then return {'daily', s[10], f(h), f(room), s[8]} end
end
local c = cost(secs)
put(ARGV[6], 'L|' .. f(c) .. '|' .. f(now + (secs + tonumber(ARGV[13])) * 1000) .. '|0')
return {'ok', secs, f(c)}
`;

/**
 * A snapshot read from PostgreSQL, with the ended-not-rated holds of the account's pending CDRs
 * (added only where the hold is missing: Redis lost it). ARGV: snapshot (SNAPSHOT_ARGS), then
 * (id, micros, expiresAtMs) triples. Answers 1 if written, 0 if the stored one was newer.
 */
export const LOAD =
  LIB +
  `
if not snapshot(ARGV, 1) then return 0 end
for i = ${SNAPSHOT_ARGS + 1}, #ARGV, 3 do
  if redis.call('HEXISTS', H, ARGV[i]) == 0 then put(ARGV[i], 'E|' .. ARGV[i + 1] .. '|' .. ARGV[i + 2] .. '|0') end
end
prune(redis.call('HGET', S, 'seq'))
return 1`;

/**
 * After a rating commit (or a rental): the snapshot as of that commit if there is one ('' in
 * ARGV[1] when not), then (id, micros, seq, expiresAtMs) per settled hold: a debit that is ledger
 * entry `seq`. The hold becomes S (written even if it was gone, so a reader that loaded the
 * balance before the commit still counts it), and every S the snapshot includes goes.
 */
export const SETTLE =
  LIB +
  `
local i = 1
if ARGV[1] ~= '' then snapshot(ARGV, 1); i = ${SNAPSHOT_ARGS + 1} else i = 2 end
for j = i, #ARGV, 4 do
  if tonumber(ARGV[j + 1]) == 0 or tonumber(ARGV[j + 2]) == 0 then remove(ARGV[j])
  else put(ARGV[j], 'S|' .. ARGV[j + 1] .. '|' .. ARGV[j + 3] .. '|' .. ARGV[j + 2]) end
end
prunePastSnapshot()
return 1`;

/** Moves a hold to a new value (ARGV[2]; '' deletes it). A hold that is gone stays gone. */
export const MOVE =
  LIB +
  `
if redis.call('HEXISTS', H, ARGV[1]) == 0 then return 0 end
if ARGV[2] == '' then remove(ARGV[1]) else put(ARGV[1], ARGV[2]) end
return 1`;

/** Puts a hold unless one with that id exists (re-asserting a live call after Redis lost it; a debit about to be written). */
export const PUT_NEW =
  LIB +
  `
if redis.call('HEXISTS', H, ARGV[1]) == 1 then return 0 end
put(ARGV[1], ARGV[2])
return 1`;

/** Live calls now (expired holds dropped first). ARGV: now. */
export const LIVE =
  LIB +
  `
expire(tonumber(ARGV[1]))
local live = held()
return live`;

/** The settings changed (ARGV[1]: the new version): the snapshot must be read again, and no older read may be written. */
export const INVALIDATE =
  LIB +
  `
redis.call('HSET', S, 'ok', '0', 'ver', ARGV[1])
if not redis.call('HGET', S, 'seq') then redis.call('HSET', S, 'seq', '0') end
redis.call('PEXPIRE', S, KEEP_MS)
return 1`;

/**
 * The epoch of the billing keys: made (with a recovery window of ARGV[2] ms) when missing, i.e.
 * on first use or after Redis lost the keys. ARGV[1]: a new epoch id. Answers the epoch.
 */
export const EPOCH = `
local ep = redis.call('GET', KEYS[5])
if ep then return ep end
redis.call('SET', KEYS[5], ARGV[1])
redis.call('SET', KEYS[6], '1', 'PX', ARGV[2])
return ARGV[1]`;
