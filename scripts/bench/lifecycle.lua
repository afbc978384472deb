-- create -> poll -> fetch the image, as a client would. Each wrk thread keeps a
-- queue of next steps; a create's response queues its poll, a poll's queues the image.
local create_body = '{"input": {"prompt": "a lighthouse on a cliff at dawn"}}'
local prefix = os.getenv("BENCH_PREFIX") or "/v1"
local queue = {}

request = function()
  local step = table.remove(queue, 1)
  local headers = {["Authorization"] = "Bearer r8_benchtoken"}
  if step == nil then
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", prefix .. "/models/google/imagen-4-ultra/predictions", headers, create_body)
  end
  return wrk.format("GET", step, headers)
end

response = function(status, headers, body)
  if body == nil then return end
  local id = body:match('"id":"([a-z0-9]+)"')
  local output = body:match('"output":"https?://[^/]+(/[^"]+)"')
  if output ~= nil then
    table.insert(queue, output)
  elseif id ~= nil then
    table.insert(queue, prefix .. "/predictions/" .. id)
  end
end
