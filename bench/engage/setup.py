"""Creates the benchmark's users and targets through the API and writes them for wrk:
  setup.py BASE_URL OUT_DIR USERS TARGETS
writes OUT_DIR/tokens.txt (one access token a line), OUT_DIR/targets.txt (one post id a
line) and OUT_DIR/viewer.json: an account for the read benchmark ({"token", "user_id"}) and
two more posts, "big" (to get a million reactions) and "small" (none)."""
import concurrent.futures
import http.client
import json
import sys
import time
import urllib.parse

base, out, n_users, n_targets = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
u = urllib.parse.urlsplit(base)


def call(method, path, body=None, token=None):
    h = {"Content-Type": "application/json"}
    if token:
        h["Authorization"] = "Bearer " + token
    for _ in range(600):  # a 503 overloaded (password hasher full) changed nothing: wait, retry
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        c.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        if r.status != 503 or not r.getheader("Retry-After"):
            break
        time.sleep(float(r.getheader("Retry-After")))
    if r.status >= 300:
        sys.exit(f"setup: {method} {path} answered {r.status}: {data[:300]!r}")
    return json.loads(data) if data else None


def register(i):
    return call("POST", "/v1/auth/register", {"handle": f"bench_{i}", "password": "bench-password-1"})


with concurrent.futures.ThreadPoolExecutor(16) as ex:
    accounts = list(ex.map(register, range(n_users + 1)))
viewer = accounts.pop()
authors = accounts[:max(1, min(10, len(accounts)))]
targets = [call("POST", "/v1/posts", {"text": f"bench post {t}"}, authors[t % len(authors)]["access_token"])["id"]
           for t in range(n_targets)]
with open(f"{out}/tokens.txt", "w") as f:
    f.write("".join(a["access_token"] + "\n" for a in accounts))
with open(f"{out}/targets.txt", "w") as f:
    f.write("".join(t + "\n" for t in targets))
big, small = (call("POST", "/v1/posts", {"text": t}, authors[0]["access_token"])["id"] for t in ("big", "small"))
with open(f"{out}/viewer.json", "w") as f:
    json.dump({"token": viewer["access_token"], "user_id": viewer["user"]["id"], "big": big, "small": small}, f)
