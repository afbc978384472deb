-- GET one prediction, authenticated.
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer bench-token"
