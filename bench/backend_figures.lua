-- wrk script of bench/backend_figures.sh (copied into the test host, run there).
-- With BENCH_TOKEN_FILE set, every request carries "Authorization: Bearer <token>", the
-- token read from BACKEND_API_TOKEN of that env file (bare, 'single' or "double" quoted);
-- it is never printed. At the end one line of figures for the script to parse:
--   FIGURES requests=N duration_s=S rps=R p50_ms=.. p90_ms=.. p99_ms=.. non2xx=N errors=N
-- non2xx counts answers with a status of 400 and up (wrk's "Non-2xx or 3xx responses"),
-- errors the socket errors (connect, read, write, timeout).
local token_file = os.getenv("BENCH_TOKEN_FILE")
if token_file and token_file ~= "" then
  local handle = assert(io.open(token_file, "r"))
  local token
  for line in handle:lines() do
    local value = line:match("^%s*BACKEND_API_TOKEN%s*=%s*(.-)%s*$")
    if value then
      token = value:gsub("^'(.*)'$", "%1"):gsub('^"(.*)"$', "%1")
    end
  end
  handle:close()
  assert(token and token ~= "", "no BACKEND_API_TOKEN in " .. token_file)
  wrk.headers["Authorization"] = "Bearer " .. token
end

function done(summary, latency, requests)
  local errors = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "FIGURES requests=%d duration_s=%.3f rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f "
      .. "non2xx=%d errors=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout))
end
