-- wrk script: PUT /v1/posts/{id}/reaction {kind} for a random user, target and kind.
-- Reads tokens.txt and targets.txt from the directory in env BENCH_DIR. Any non-2xx answer
-- is counted and reported (run.sh aborts on it). With BENCH_REFUSED=1 every request names
-- a kind that does not exist: the server parses, authenticates and answers 422, storing
-- nothing (the ceiling of the same request without its write); then 422 is the expected
-- answer.
local dir = os.getenv("BENCH_DIR")
local tokens, targets = {}, {}
for line in io.lines(dir .. "/tokens.txt") do tokens[#tokens + 1] = line end
for line in io.lines(dir .. "/targets.txt") do targets[#targets + 1] = line end
local kinds = {"like", "love", "haha", "wow", "sad", "angry"}
local bad = 0
local refused = os.getenv("BENCH_REFUSED") == "1"
local expect = refused and 422 or 200

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

function request()
  local headers = {
    ["Authorization"] = "Bearer " .. tokens[math.random(#tokens)],
    ["Content-Type"] = "application/json",
  }
  local path = "/v1/posts/" .. targets[math.random(#targets)] .. "/reaction"
  local kind = refused and "none" or kinds[math.random(#kinds)]
  return wrk.format("PUT", path, headers, '{"kind":"' .. kind .. '"}')
end

function response(status, headers, body)
  if status ~= expect then
    bad = bad + 1
    if bad <= 3 then io.stderr:write("unexpected " .. status .. " " .. body:sub(1, 200) .. "\n") end
  end
end

function done(summary, latency, requests)
  io.write(string.format("non2xx %d\n", summary.errors.status))
end
