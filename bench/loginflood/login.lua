-- POST /v1/auth/login with a wrong password for the victim account (BENCH_VICTIM):
-- every attempt costs a full Argon2id check unless the hasher refuses it.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"handle":"' .. os.getenv("BENCH_VICTIM") .. '","password":"not the right password"}'
