-- wrk script: POST /v1/transfers with a fresh Idempotency-Key per request.
-- TOKEN and PAYEE (the payee's id: naming a payee by phone spends the
-- payer's lookup budget, which no person's payments would exhaust but this
-- load does in seconds) are substituted by scripts/bench-wrk.
local counter = 0
local threads = {}
function setup(thread) thread:set("tid", #threads + 1); table.insert(threads, thread) end
function request()
  counter = counter + 1
  return wrk.format("POST", "/v1/transfers",
    {["Authorization"] = "Bearer TOKEN", ["Content-Type"] = "application/json", ["Idempotency-Key"] = "wrk-" .. tid .. "-" .. counter},
    '{"payee_id":"PAYEE","amount":1}')
end
