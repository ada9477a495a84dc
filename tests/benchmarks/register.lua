-- Each request registers a new visitor. Arguments after --: a directory and a round name.
-- Every thread writes the address of each 201 it gets to <dir>/accepted-<round>-<thread>.txt,
-- so the run can check each accepted registration is in the database.
local threads = {}
counter = 0
created = 0

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  round = args[2] or "1"
  accepted = io.open(string.format("%s/accepted-%s-%d.txt", args[1], round, tid), "w")
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"first_name":"Bench","last_name":"Mark","email":"r%s-v%d-%d@example.com","company":"ACME","consent_marketing":false}',
    round, tid, counter)
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
    local email = string.match(body, '"email":"([^"]+)"')  -- the reference answers only an id
    if email then
      accepted:write(email, "\n")
      accepted:flush()
    end
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("created") end
  io.write(string.format("CREATED %d\n", total))
end
