-- wrk script: the popular-payee load. POST /v1/transfers from a random payer
-- (bearer tokens, one a line, in the file named by env PAYERS) to a random
-- payee (user ids, one a line, in PAYEES), 1–99 fen, a fresh Idempotency-Key.
-- Prints "created N other N" at the end (any non-201 counts as other).
local payers, payees, n = {}, {}, 0
created, other = 0, 0
local threads = {}

local function lines(path)
  local t = {}
  for l in io.lines(path) do if #l > 0 then t[#t + 1] = l end end
  return t
end

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  payers = lines(os.getenv("PAYERS"))
  payees = lines(os.getenv("PAYEES"))
  math.randomseed(os.time() + id * 7919)
end

function request()
  n = n + 1
  local body = '{"payee_id":"' .. payees[math.random(#payees)] .. '","amount":' .. math.random(1, 99) .. '}'
  local headers = {
    ["Authorization"] = "Bearer " .. payers[math.random(#payers)],
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = "wrk-" .. id .. "-" .. n .. "-" .. math.random(1e9),
  }
  return wrk.format("POST", "/v1/transfers", headers, body)
end

function response(status, headers, body)
  if status == 201 then created = created + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local c, o = 0, 0
  for _, t in ipairs(threads) do c = c + t:get("created"); o = o + t:get("other") end
  io.write(string.format("created %d other %d\n", c, o))
end
