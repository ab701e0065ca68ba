# Helpers shared by the benchmark scripts (sourced; not run). Expects $py: a Python 3.
# shellcheck shell=bash disable=SC2154  # $py is set by the sourcing script

die() { echo "bench: $*" >&2; exit 1; }

# stop PID [SECONDS]: TERM, then KILL after SECONDS (default 15: chorusd drains and its
# reaction writer applies what is queued before it exits).
stop() {
  local pid=$1 grace=${2:-15}
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq $((grace * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# A TCP port free on 127.0.0.1 just now.
free_port() {
  "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# json_field FILE EXPR: prints the Python expression EXPR on the parsed JSON `j` of FILE.
json_field() {
  "$py" -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# parse_wrk FILE: prints "rps p50_us p99_us non2xx socket_errors" from wrk --latency output.
parse_wrk() {
  "$py" - "$1" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def us(v, unit):
    return float(v) * {"us": 1, "ms": 1e3, "s": 1e6, "m": 6e7}[unit]
def lat(pct):
    m = re.search(r"^\s*%s%%\s+([\d.]+)(us|ms|s|m)\s*$" % pct, text, re.M)
    if not m:
        sys.exit("no %s%% latency line in wrk output" % pct)
    return us(*m.groups())
m = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
if not m:
    sys.exit("no Requests/sec line in wrk output")
non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
print("%.2f %.1f %.1f %d %d" % (float(m.group(1)), lat(50), lat(99),
      int(non2xx.group(1)) if non2xx else 0, sum(map(int, errs.groups())) if errs else 0))
PY
}

# loop_lag BEFORE AFTER: two /metrics scrapes around a load; prints "p99_ms max_ms samples":
# the bucket bound under which 99 % of the event-loop lag samples taken between the two fell
# (all loops together; chorus_event_loop_lag_seconds, a 100 ms timer per loop) and the
# largest lag the loops report at the end (their last one to two minutes).
loop_lag() {
  "$py" - "$1" "$2" <<'PY'
import re, sys
def buckets(path):
    b, mx = {}, 0.0
    for line in open(path):
        m = re.match(r'chorus_event_loop_lag_seconds_bucket\{loop="\d+",le="([^"]+)"\} (\d+)', line)
        if m:
            le = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
            b[le] = b.get(le, 0) + int(m.group(2))
        m = re.match(r'chorus_event_loop_lag_max_seconds\{loop="\d+"\} ([\d.e+-]+)', line)
        if m:
            mx = max(mx, float(m.group(1)))
    return b, mx
b0, _ = buckets(sys.argv[1])
b1, mx = buckets(sys.argv[2])
les = sorted(b1)
if not les:
    sys.exit("no chorus_event_loop_lag_seconds in /metrics")
total = b1[les[-1]] - b0.get(les[-1], 0)
p99 = les[-1]
for le in les:  # cumulative buckets: the first bound holding 99 % of the samples
    if total and b1[le] - b0.get(le, 0) >= 0.99 * total:
        p99 = le
        break
print("%.1f %.1f %d" % (p99 * 1e3, mx * 1e3, total))
PY
}
