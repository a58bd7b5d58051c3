-- One wrk script for every scenario; bench/run.py configures it through the environment:
--
--   BENCH_MODE   "get"      GET the paths in turn (one path, or many to rotate over)
--                "favorite" POST then DELETE <path> for each path: request i goes to path
--                           i mod n, as a POST in even rounds and a DELETE in odd ones, so
--                           the requests in flight (fewer than n) never touch one article
--                "create"   POST <path> with a new article whose title is unique
--   BENCH_PATHS  a file with one request path per line
--   BENCH_TOKEN  a JWT, sent as "Authorization: Token <jwt>" (empty: anonymous)
--   BENCH_RUN    a string unique to this wrk run (the create mode's titles contain it)
--
-- Status codes are counted in response(): wrk's own "Non-2xx or 3xx responses" leaves
-- 3xx out. done() prints one line "BENCH_JSON {...}" for run.py to parse.

local mode = os.getenv("BENCH_MODE") or "get"
local token = os.getenv("BENCH_TOKEN") or ""
local run_id = os.getenv("BENCH_RUN") or tostring(os.time())

local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do
  if line ~= "" then
    paths[#paths + 1] = line
  end
end
assert(#paths > 0, "BENCH_PATHS lists no path")

local headers = { ["Accept"] = "application/json" }
if token ~= "" then
  headers["Authorization"] = "Token " .. token
end
local json_headers = {}
for name, value in pairs(headers) do
  json_headers[name] = value
end
json_headers["Content-Type"] = "application/json"

-- GETs never change: format them once.
local prepared = {}
if mode == "get" then
  for i, path in ipairs(paths) do
    prepared[i] = wrk.format("GET", path, headers)
  end
end

local counter = 0
non2xx = 0
first_error = ""

function request()
  counter = counter + 1
  local n = #paths
  local i = (counter - 1) % n + 1
  if mode == "get" then
    return prepared[i]
  elseif mode == "favorite" then
    local round = math.floor((counter - 1) / n)
    local method = (round % 2 == 0) and "POST" or "DELETE"
    return wrk.format(method, paths[i], headers)
  elseif mode == "create" then
    local body = string.format(
      '{"article":{"title":"Bench %s article %d","description":"Written by wrk",'
        .. '"body":"A body long enough to look like a short post, written by the benchmark.",'
        .. '"tagList":["bench","wrk"]}}',
      run_id,
      counter
    )
    return wrk.format("POST", paths[i], json_headers, body)
  end
  error("unknown BENCH_MODE " .. mode)
end

function response(status, _headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if first_error == "" then
      first_error = tostring(status) .. " " .. string.sub(body or "", 1, 300)
    end
  end
end

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

local function json_string(text)
  text = string.gsub(text, '[%c"\\]', function(c)
    if c == '"' then
      return '\\"'
    elseif c == "\\" then
      return "\\\\"
    end
    return string.format("\\u%04x", string.byte(c))
  end)
  return '"' .. text .. '"'
end

function done(summary, latency, _requests)
  local bad, sample = 0, ""
  for _, thread in ipairs(threads) do
    bad = bad + (thread:get("non2xx") or 0)
    local seen = thread:get("first_error") or ""
    if sample == "" then
      sample = seen
    end
  end
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(
    string.format(
      'BENCH_JSON {"requests":%d,"seconds":%.3f,"rps":%.2f,"bytes":%d,'
        .. '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,"mean_ms":%.3f,'
        .. '"non2xx":%d,"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},'
        .. '"first_error":%s}\n',
      summary.requests,
      seconds,
      summary.requests / seconds,
      summary.bytes,
      latency:percentile(50) / 1000,
      latency:percentile(90) / 1000,
      latency:percentile(99) / 1000,
      latency.max / 1000,
      latency.mean / 1000,
      bad,
      e.connect,
      e.read,
      e.write,
      e.timeout,
      json_string(sample)
    )
  )
end
