-- What bench/holds.lua and bench/journeys.lua share, loaded by each with dofile: a millisecond
-- clock and wrk's setup(), which numbers the threads and keeps them for done().
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock, bench_timespec *ts);
]]
local timespec = ffi.new("bench_timespec")

local common = { threads = {} }

-- Milliseconds on CLOCK_MONOTONIC (1), one clock for every wrk thread; os.time() counts whole seconds.
function common.now_ms()
  ffi.C.clock_gettime(1, timespec)
  return tonumber(timespec.tv_sec) * 1000 + tonumber(timespec.tv_nsec) / 1e6
end

-- Main VM: remember the threads to read their counts in done().
function setup(thread)
  table.insert(common.threads, thread)
  thread:set("thread_number", #common.threads)
end

return common
