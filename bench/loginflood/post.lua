-- POST /v1/posts as the bench user (Authorization comes from wrk -H).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"text":"a post written while logins flood the server"}'
