-- wrk script: POST /v1/transfers with a fresh Idempotency-Key per request.
-- TOKEN and PAYEE are substituted by scripts/bench-wrk.
local counter = 0
local threads = {}
function setup(thread) thread:set("tid", #threads + 1); table.insert(threads, thread) end
function request()
  counter = counter + 1
  return wrk.format("POST", "/v1/transfers",
    {["Authorization"] = "Bearer TOKEN", ["Content-Type"] = "application/json", ["Idempotency-Key"] = "wrk-" .. tid .. "-" .. counter},
    '{"payee_phone":"PAYEE","amount":1}')
end
