"""The HTTP edge: request framing (smuggling), cleartext HTTP/2 off by default, bad path
parameters, HEAD, the charset of JSON bodies."""
import pytest

from client import PASSWORD, expect_problem, expect_status, unique_handle
from edge_helpers import exchange, get_request, register_request, statuses

REGISTER = "/v1/auth/register"


def handle_is_free(user, handle):
    return user.get(f"/v1/users/by-handle/{handle}").status == 404


# ---- 1. request smuggling ------------------------------------------------------------------

def smuggle_cl_te(smuggled, te_first=False):
    """A register request with both Content-Length (covering the smuggled request) and
    Transfer-Encoding: chunked (an empty body): a proxy framing by Content-Length sees one
    request, h2o 2.2.5 framing by chunked sees two."""
    body = b"0\r\n\r\n" + smuggled
    cl = f"Content-Length: {len(body)}\r\n"
    te = "Transfer-Encoding: chunked\r\n"
    hdrs = (te + cl) if te_first else (cl + te)
    return (f"POST /v1/auth/register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"{hdrs}\r\n").encode() + body


def smuggle_two_cl(smuggled):
    """Two Content-Length headers: 0 (h2o 2.2.5 takes the first) and the real length."""
    return (f"POST /v1/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n"
            f"Content-Length: {len(smuggled)}\r\n\r\n").encode() + smuggled


@pytest.mark.parametrize("shape", ["cl-te", "te-cl", "two-cl"])
def test_smuggled_request_never_runs(server, user, shape):
    handle = unique_handle("smug")
    smuggled = register_request(handle)
    raw = {"cl-te": lambda: smuggle_cl_te(smuggled),
           "te-cl": lambda: smuggle_cl_te(smuggled, te_first=True),
           "two-cl": lambda: smuggle_two_cl(smuggled)}[shape]()
    data, closed = exchange(server.port, raw)
    assert statuses(data) == [400], data[:400]
    assert closed, "the connection must be closed after a request with ambiguous framing"
    assert handle_is_free(user, handle), "the smuggled request ran"


@pytest.mark.parametrize("headers", [
    "Content-Length: 5a\r\n",
    "Content-Length: +5\r\n",
    "Content-Length: 5, 5\r\n",
    "Transfer-Encoding: gzip, chunked\r\n",
    "Transfer-Encoding: chunked, identity\r\n",
    "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
    "Transfer-Encoding: identity\r\n",
])
def test_bad_framing_is_400_and_closes(server, user, headers):
    handle = unique_handle("smug")
    smuggled = register_request(handle)
    raw = (f"POST /v1/auth/register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           f"{headers}\r\n").encode() + b"0\r\n\r\n" + smuggled
    data, closed = exchange(server.port, raw)
    assert statuses(data)[:1] == [400], data[:400]
    assert len(statuses(data)) == 1, data[:600]
    assert closed
    assert handle_is_free(user, handle)


def test_equal_duplicate_content_length_is_one_length(server, user):
    """RFC 9112 §6.3: identical Content-Length values may be taken as one."""
    handle = unique_handle("dup")
    req = register_request(handle, extra_headers="")
    head, _, body = req.partition(b"\r\n\r\n")
    raw = head + f"\r\nContent-Length: {len(body)}".encode() + b"\r\nConnection: close\r\n\r\n" + body
    data, _ = exchange(server.port, raw)
    assert statuses(data) == [201], data[:400]


def test_keep_alive_still_serves_pipelined_requests(server):
    data, _ = exchange(server.port, get_request("/healthz") + get_request("/healthz", extra="Connection: close\r\n"))
    assert statuses(data) == [200, 200]


# ---- 4. bad path parameters ----------------------------------------------------------------

@pytest.mark.parametrize("suffix", ["%00x", "%00", "%zz", "%4", "%", "%0"])
def test_bad_escape_or_nul_in_path_parameter_is_404(api, user, suffix):
    uid = user.id
    assert user.get(f"/v1/users/{uid}").status == 200
    r = user.get(f"/v1/users/{uid}{suffix}")
    expect_problem(r, 404, "not_found")


def test_nul_in_handle_parameter_is_404(api, user):
    r = user.get(f"/v1/users/by-handle/{user.handle}%00evil")
    expect_problem(r, 404, "not_found")


def test_good_escapes_still_decode(api, user):
    r = user.get(f"/v1/users/by-handle/%{ord(user.handle[0]):02X}{user.handle[1:]}")
    expect_status(r, 200)


# ---- 5. HEAD ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path,auth", [("/healthz", False), ("/v1/me", True), ("/v1/me", False),
                                       ("/v1/users/{id}", True), ("/no/such/path", False)])
def test_head_is_get_without_body(api, user, path, auth):
    path = path.replace("{id}", str(user.id))
    token = user.access_token if auth else None
    g = api.request("GET", path, token=token, check=False)
    h = api.request("HEAD", path, token=token, check=False)
    assert h.status == g.status, (g.describe(), h.describe())
    assert h.body == b""
    for name in ("content-type", "content-length", "allow", "www-authenticate"):
        assert h.header(name) == g.header(name), name


def test_allow_lists_head(api, user):
    r = api.request("DELETE", "/healthz", check=False)
    assert r.status == 405
    assert [m.strip() for m in r.header("allow").split(",")] == ["GET", "HEAD"]
    r = api.request("HEAD", REGISTER, check=False)
    assert r.status == 405
    assert r.header("allow") == "POST"


# ---- 6. charset of JSON bodies ---------------------------------------------------------------

@pytest.mark.parametrize("ct", ["application/json; charset=iso-8859-1", "application/json;charset=latin1",
                                'application/json; charset="utf-16"', "application/json; charset=",
                                "application/jsonx", "application/json; charset=utf-8; charset=koi8-r"])
def test_json_with_other_charset_is_415(api, user, ct):
    handle = unique_handle()
    r = api.post(REGISTER, json={"handle": handle, "password": PASSWORD}, content_type=ct)
    expect_problem(r, 415, "unsupported_media_type")
    assert handle_is_free(user, handle)


@pytest.mark.parametrize("ct", ["application/json; charset=utf-8", "application/json; charset=UTF-8",
                                'application/json; charset="utf8"', "Application/JSON;Charset=Utf-8",
                                "application/json; foo=bar", "application/json"])
def test_json_with_utf8_charset_is_accepted(api, ct):
    r = api.post(REGISTER, json={"handle": unique_handle(), "password": PASSWORD}, content_type=ct)
    expect_status(r, 201)
