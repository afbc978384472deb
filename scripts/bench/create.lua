-- POST a valid create request: full validation, a new prediction each time.
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer r8_benchtoken"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"input": {"prompt": "a lighthouse on a cliff at dawn", "aspect_ratio": "16:9", "output_format": "jpg", "safety_filter_level": "block_only_high"}}'
