-- GET one prediction, authenticated.
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer r8_benchtoken"
