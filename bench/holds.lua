-- Hold (checkout reservation) load for bench/bench.py, run by wrk. Arguments after `--` are key=value:
--   mode=random   one-unit holds on a random SKU-%05d at a random LOC-%02d (skus=, locations= set the ranges);
--   mode=flash    one-unit holds on a random SKU of a short list (hot=HOT-00,HOT-01 location=LOC-01);
--   mode=churn    like random, but every other request releases (DELETE) a hold this thread placed
--                 earlier; holds on SKUs whose number is a multiple of 4 get ttlSeconds 1 and are
--                 never released, so they expire on the server (the SKU says which is which in the answer).
--   seconds=N     how long holds are sent; ttl=N the ttlSeconds of kept holds (default 900).
-- Holds are sent for `seconds` only, while bench.py lets wrk run a little longer: the connections then
-- sit idle (delay()) until every hold already sent has its answer, so the 201s counted here are all
-- the holds the server made, and bench.py can compare them with the server's `held`.
-- done() prints one line for bench.py: "bench-holds key=value ...", counts summed over threads.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "wrk_common.lua")
local now_ms, threads = common.now_ms, common.threads

-- Thread VMs. `tally` is the one global done() reads; it stays a flat table of numbers because
-- wrk's thread:get cannot copy nested tables.
local options = { mode = "random", seconds = 10, ttl = 900, skus = 10000, locations = 20, hot = "", location = "LOC-01" }
local hot = {}                    -- flash: the SKUs
local sku_count, location_count   -- random and churn: the ranges
local ttl, seconds                -- ttlSeconds of kept holds; how long holds are sent
local deadline                    -- now_ms() after which no hold is sent
local releasable, first, last = {}, 1, 0   -- churn: queue of hold ids this thread may release
local release_turn = false        -- churn: the next request releases, when the queue has an id
local json_headers, plain_headers = {}, {}
local key_count = 0               -- Idempotency-Keys this thread has used

function init(args)
  for i = 1, #args do
    local key, value = string.match(args[i], "^([%w_]+)=(.*)$")
    if key then options[key] = value end
  end
  for sku in string.gmatch(options.hot, "[^,]+") do table.insert(hot, sku) end
  sku_count, location_count = tonumber(options.skus), tonumber(options.locations)
  ttl, seconds = tonumber(options.ttl), tonumber(options.seconds)
  -- wrk.headers holds the -H headers (Authorization); a DELETE goes without a Content-Type.
  for name, value in pairs(wrk.headers) do
    json_headers[name], plain_headers[name] = value, value
  end
  json_headers["Content-Type"] = "application/json"
  math.randomseed(7919 * thread_number + 17)
  tally = { sent = 0, answered = 0, placed = 0, released = 0, expiring = 0, started_ms = now_ms(), finished_ms = 0 }
  -- wrk calls request() once in the first thread to check the script, and never sends that one.
  if thread_number == 1 then tally.sent = -1 end
  deadline = tally.started_ms + seconds * 1000
end

-- Connections go idle once the hold phase is over; their next request would come after wrk stops.
function delay()
  if now_ms() < deadline then return 0 end
  return 3600 * 1000
end

local function hold_request(sku, location, ttl_seconds)
  local body = string.format(
    '{"lines":[{"sku":"%s","quantity":1,"locationId":"%s"}],"ttlSeconds":%d,"reference":"bench-%s"}',
    sku, location, ttl_seconds, options.mode)
  -- Every hold carries its own Idempotency-Key, as a checkout's does: the key's claim and stored
  -- answer are part of what a hold costs. The thread and the start time keep keys of reruns on
  -- one server apart.
  key_count = key_count + 1
  json_headers["Idempotency-Key"] = string.format("bench-%d-%d-%d", thread_number, math.floor(tally.started_ms), key_count)
  return wrk.format("POST", "/v1/holds", json_headers, body)
end

-- A random SKU number and position as bench.py names them (SKU-00000..SKU-09999, LOC-01..LOC-20).
local function random_position()
  local n = math.random(0, sku_count - 1)
  return n, string.format("SKU-%05d", n), string.format("LOC-%02d", math.random(1, location_count))
end

local function churn_request()
  release_turn = not release_turn
  if release_turn and first <= last then
    local id = releasable[first]
    releasable[first], first = nil, first + 1
    return wrk.format("DELETE", "/v1/holds/" .. id, plain_headers)
  end
  local n, sku, location = random_position()
  return hold_request(sku, location, n % 4 == 0 and 1 or ttl)
end

function request()
  tally.sent = tally.sent + 1
  if options.mode == "flash" then
    return hold_request(hot[math.random(1, #hot)], options.location, ttl)
  elseif options.mode == "churn" then
    return churn_request()
  end
  local _, sku, location = random_position()
  return hold_request(sku, location, ttl)
end

local function count(key)
  tally[key] = (tally[key] or 0) + 1
end

-- wrk does not say which request an answer belongs to, so what is needed is read from the body
-- (the server sorts keys: the hold's "id" precedes its "lines", and the first "sku" is line 1's).
local function first_sku(body)
  return string.match(body, '"sku"%s*:%s*"([^"]+)"')
end

-- Churn: a made hold goes to the release queue, unless its SKU says it was placed to expire.
local function keep_for_release(body)
  local n = tonumber(string.match(first_sku(body) or "", "(%d+)$"))
  local id = string.match(body, '"id"%s*:%s*"(hld_[0-9a-f]+)"')
  if n and n % 4 == 0 then
    tally.expiring = tally.expiring + 1
  elseif id then
    last = last + 1
    releasable[last] = id
  else
    count("unparsed")  -- a 201 without a readable SKU or id: it stays held, bench.py warns
  end
end

function response(status, headers, body)
  tally.answered = tally.answered + 1
  tally.finished_ms = now_ms()
  count("status " .. status)
  if status == 201 then
    tally.placed = tally.placed + 1
    if options.mode == "flash" then
      count("sku " .. (first_sku(body) or "unknown"))
    elseif options.mode == "churn" then
      keep_for_release(body)
    end
  elseif status == 200 and options.mode == "churn" then
    tally.released = tally.released + 1
  end
end

-- One line, "bench-holds key=value ...": keys with a space (statuses, SKUs) are written with a dot,
-- e.g. status.201=1234 sku.HOT-00=99. Times are per run; latencies in microseconds.
function done(summary, latency, requests)
  local total, started, finished = {}, math.huge, 0
  for _, thread in ipairs(threads) do
    local t = thread:get("tally")
    for key, value in pairs(t) do
      if key ~= "started_ms" and key ~= "finished_ms" then total[key] = (total[key] or 0) + value end
    end
    started = math.min(started, t.started_ms)
    if t.finished_ms > 0 then finished = math.max(finished, t.finished_ms) end
  end
  local keys = {}
  for key in pairs(total) do table.insert(keys, key) end
  table.sort(keys)
  local fields = {}
  for _, key in ipairs(keys) do
    table.insert(fields, string.format("%s=%d", string.gsub(key, " ", "."), total[key]))
  end
  table.insert(fields, string.format("elapsed_ms=%.0f", math.max(0, finished - started)))
  table.insert(fields, string.format("p50_us=%.0f p99_us=%.0f", latency:percentile(50), latency:percentile(99)))
  table.insert(fields, string.format("errors=%d timeouts=%d",
    summary.errors.connect + summary.errors.read + summary.errors.write, summary.errors.timeout))
  print("bench-holds " .. table.concat(fields, " "))
end
