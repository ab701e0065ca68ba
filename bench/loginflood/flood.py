"""Login flood whose clients honour Retry-After, as real clients and SDKs do: N threads,
each on one keep-alive connection, POST wrong-password logins back to back; a 503 or 429
makes that client wait the Retry-After seconds before its next attempt.
Usage: flood.py BASE_URL HANDLE CLIENTS SECONDS"""
import http.client
import json
import sys
import threading
import time
from urllib.parse import urlparse

base, handle, clients, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
url = urlparse(base)
body = json.dumps({"handle": handle, "password": "not the right password"})
deadline = time.monotonic() + seconds


def client():
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    while time.monotonic() < deadline:
        try:
            conn.request("POST", "/v1/auth/login", body=body, headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            if r.status in (429, 503):
                wait = float(r.getheader("Retry-After") or 1)
                time.sleep(min(wait, max(0.0, deadline - time.monotonic())))
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
            time.sleep(0.1)
    conn.close()


threads = [threading.Thread(target=client) for _ in range(clients)]
for t in threads:
    t.start()
for t in threads:
    t.join()
