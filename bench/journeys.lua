-- Store journeys (hold -> order -> picking -> ready -> collect) for bench/bench.py, run by wrk with
-- one connection per thread (-tN -cN), so that a thread's state is its connection's journey.
-- The Python journey client costs about a fifth of the two cores (perf: 19 % of the machine while
-- the journeys ran); this one costs wrk's few per cent, so the server's own figure shows.
-- Arguments after `--` are key=value: checkout=KEY store=KEY location=STORE-BENCH skus=2000
-- run=ID seconds=N. A journey starts only while `seconds` last; one under way then finishes.
-- done() prints "bench-journeys key=value ..." and one "bench-journeys-latency step=... buckets"
-- line per step (counts per quarter millisecond, summed over threads), for bench.py.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "wrk_common.lua")
local now_ms, threads = common.now_ms, common.threads

local STEPS = { "hold", "order", "picking", "ready", "collect" }
local EXPECTED = { 201, 201, 200, 200, 200 }
local BUCKETS_PER_MS, BUCKET_MAX = 4, 20000   -- quarter milliseconds, up to 5 s (the last bucket takes the rest)

local options = { checkout = "", store = "", location = "STORE-BENCH", skus = 2000, run = "wrk", seconds = 20 }
local deadline
local step = 1                    -- the step this thread's next request makes
local hold_id, order_id, code     -- of the journey under way
local journey = 0                 -- journeys this thread started
local sent_ms = 0
local idle = false                -- the time is over and no journey is under way
local key_count = 0

function init(args)
  for i = 1, #args do
    local key, value = string.match(args[i], "^([%w_]+)=(.*)$")
    if key then options[key] = value end
  end
  options.skus, options.seconds = tonumber(options.skus), tonumber(options.seconds)
  -- Flat tables only: wrk's thread:get does not copy nested ones. lat[step * (BUCKET_MAX + 1) + bucket].
  tally = { completed = 0, started = 0, answered = 0, started_ms = now_ms(), finished_ms = 0 }
  for s = 1, #STEPS do tally["failed_" .. STEPS[s]] = 0 end
  latency = {}
  deadline = tally.started_ms + options.seconds * 1000
  -- wrk calls request() once in the first thread to check the script, and never sends that one.
  if thread_number == 1 then tally.started = -1 end
end

-- wrk asks for the delay before it asks for the request: a journey that would start after the
-- time is over is not asked for (its request would come after wrk stops).
function delay()
  if step == 1 and now_ms() >= deadline then idle = true end
  if idle then return 3600 * 1000 end
  return 0
end

local function post(path, key, body)
  key_count = key_count + 1
  local headers = {
    ["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = string.format("journey-%s-%d-%d", options.run, thread_number, key_count),
  }
  return wrk.format("POST", path, headers, body)
end

function request()
  if step == 1 then
    journey = journey + 1
    tally.started = tally.started + 1
    -- The SKUs are taken in turn across threads, as the Python workers take journey numbers.
    local n = (journey * 64 + thread_number) % options.skus
    sent_ms = now_ms()
    return post("/v1/holds", options.checkout, string.format(
      '{"lines":[{"sku":"ORD-%05d","quantity":1}],"fulfilment":{"type":"pickup","locationId":"%s"}}', n, options.location))
  end
  sent_ms = now_ms()
  if step == 2 then
    return post("/v1/orders", options.checkout,
      string.format('{"orderNumber":"BENCH-%s-%d-%d","holdId":"%s"}', options.run, thread_number, journey, hold_id))
  elseif step == 3 then
    return post("/v1/orders/" .. order_id .. "/picking", options.store, "{}")
  elseif step == 4 then
    return post("/v1/orders/" .. order_id .. "/ready", options.store, "{}")
  end
  return post("/v1/orders/" .. order_id .. "/collect", options.store, string.format('{"pickupCode":"%s"}', code))
end

local function fail()
  local name = "failed_" .. STEPS[step]
  tally[name] = tally[name] + 1
  step = 1
end

function response(status, headers, body)
  local elapsed = now_ms() - sent_ms
  tally.answered = tally.answered + 1
  if status ~= EXPECTED[step] then return fail() end
  if step == 1 then
    hold_id = string.match(body, '"id"%s*:%s*"(hld_[0-9a-f]+)"')
    if not hold_id then return fail() end
  elseif step == 2 then
    order_id = string.match(body, '"id"%s*:%s*"(ord_[%w]+)"')
    code = string.match(body, '"pickupCode"%s*:%s*"([^"]+)"')
    if not order_id or not code then return fail() end
  elseif step == 5 and not string.find(body, '"status"%s*:%s*"collected"') then
    return fail()
  end
  local bucket = math.min(math.floor(elapsed * BUCKETS_PER_MS), BUCKET_MAX)
  local index = step * (BUCKET_MAX + 1) + bucket
  latency[index] = (latency[index] or 0) + 1
  if step == 5 then
    tally.completed = tally.completed + 1
    tally.finished_ms = now_ms()
    step = 1
  else
    step = step + 1
  end
end

function done(summary, latency_summary, requests)
  local total = {}
  local started_ms, finished_ms = math.huge, 0
  local lat = {}
  for _, thread in ipairs(threads) do
    local t = thread:get("tally")
    for key, value in pairs(t) do
      if key == "started_ms" then started_ms = math.min(started_ms, value)
      elseif key == "finished_ms" then finished_ms = math.max(finished_ms, value)
      else total[key] = (total[key] or 0) + value end
    end
    for index, value in pairs(thread:get("latency")) do lat[index] = (lat[index] or 0) + value end
  end
  local parts = { "bench-journeys", string.format("elapsed_ms=%.0f", finished_ms - started_ms) }
  for key, value in pairs(total) do table.insert(parts, key .. "=" .. value) end
  io.write(table.concat(parts, " ") .. "\n")
  for s = 1, #STEPS do
    local buckets = {}
    for b = 0, BUCKET_MAX do
      local value = lat[s * (BUCKET_MAX + 1) + b]
      if value then table.insert(buckets, b .. ":" .. value) end
    end
    io.write("bench-journeys-latency step=" .. STEPS[s] .. " " .. table.concat(buckets, ",") .. "\n")
  end
end
