-- wrk script for bench/rest.py: turns every request into the Messages.json create.
-- The body comes from BENCH_POST_BODY; the Authorization header is passed with wrk -H.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_POST_BODY") or "To=%2B15551230001&From=%2B15005550006&Body=Hello+from+the+benchmark"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
