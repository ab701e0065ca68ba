-- wrk script: POST /v1/webhooks/stripe, each request a distinct signed event read from the
-- file in env BENCH_HOOKS ("<Stripe-Signature>\t<body>" a line). Thread k of n takes lines
-- k, k+n, ...; past the end it starts again (then the event is a duplicate: stored before,
-- answered 200 without a write; run.sh makes the file larger than a run needs).
local lines = {}
for line in io.lines(os.getenv("BENCH_HOOKS")) do lines[#lines + 1] = line end
local threads, counter = {}, 0
local n, i = 1, 0
local bad = 0

function setup(thread)
  thread:set("k", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  -- k: this thread's number, set by setup() in this thread's Lua state
  n = tonumber(os.getenv("BENCH_WRK_THREADS") or "2")
  i = tonumber(k) or 0
end

function request()
  local line = lines[(i % #lines) + 1]
  i = i + n
  local tab = line:find("\t", 1, true)
  return wrk.format("POST", "/v1/webhooks/stripe",
    {["Stripe-Signature"] = line:sub(1, tab - 1), ["Content-Type"] = "application/json"}, line:sub(tab + 1))
end

function response(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
    if bad <= 3 then io.stderr:write("unexpected " .. status .. " " .. body:sub(1, 200) .. "\n") end
  end
end
