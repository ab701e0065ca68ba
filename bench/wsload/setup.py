"""Set-up of the gateway benchmarks (bench/wsload/run.sh): registers users on a running chorusd
over its REST API and opens the conversations the workloads use, then writes the files that
wsload and node_server.js read:
  users.txt   "user_id access_token" per line
  direct.txt  "conversation_id sender_id recipient_id" per line (1:1 conversations)
  group.txt   "conversation_id member_id ..." (one group; its creator first)
chorusd must run with a cheap password hash and high write limits (run.sh sets them): this is
set-up, not what is measured.

Usage: setup.py BASE_URL OUT_DIR USERS PAIRS GROUP_MEMBERS"""
import http.client
import json
import sys
import threading
import urllib.parse

THREADS = 8


def request(conn, method, path, body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    if resp.status >= 300:
        raise SystemExit(f"setup: {method} {path} -> {resp.status}: {data[:300]!r}")
    return json.loads(data) if data else None


def register_all(base, n):
    url = urllib.parse.urlparse(base)
    users = [None] * n
    errors = []

    def work(k):
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        try:
            for i in range(k, n, THREADS):
                r = request(conn, "POST", "/v1/auth/register",
                            {"handle": f"wl{i}", "password": "wsload-bench", "display_name": f"wl {i}"})
                users[i] = (r["user"]["id"], r["access_token"])
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            conn.close()
    threads = [threading.Thread(target=work, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"setup: registration failed: {errors[0]}")
    return users


def main():
    base, out, n_users, pairs, group = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    need = max(n_users, 2 * pairs, group)
    users = register_all(base, need)
    with open(f"{out}/users.txt", "w") as f:
        for uid, tok in users:
            f.write(f"{uid} {tok}\n")
    url = urllib.parse.urlparse(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    with open(f"{out}/direct.txt", "w") as f:
        for p in range(pairs):
            (a, tok), (b, _) = users[2 * p], users[2 * p + 1]
            c = request(conn, "POST", "/v1/conversations", {"member_ids": [b]}, tok)
            f.write(f"{c['id']} {a} {b}\n")
    if group > 1:
        creator, tok = users[0]
        members = [u for u, _ in users[1:group]]
        c = request(conn, "POST", "/v1/conversations", {"member_ids": members, "title": "wsload group"}, tok)
        with open(f"{out}/group.txt", "w") as f:
            f.write(" ".join([str(c["id"]), str(creator)] + [str(m) for m in members]) + "\n")
    conn.close()
    print(f"setup: {len(users)} users, {pairs} direct conversations, a group of {group}")


if __name__ == "__main__":
    main()
