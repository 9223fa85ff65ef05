-- wrk script: Exotel StatusCallbacks (form POST), each for a new CallSid.
-- Used by bench/webhooks.sh.
local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

local n = 0

function request()
  n = n + 1
  local body = string.format(
    "CallSid=wrk%d-%d&Status=completed&EventType=terminal&PhoneNumberSid=08047180000" ..
    "&From=09812345678&To=08047180000&Direction=inbound" ..
    "&StartTime=2026-01-16+10%%3A00%%3A00&EndTime=2026-01-16+10%%3A03%%3A00&ConversationDuration=170",
    tid, n)
  return wrk.format("POST", nil, { ["Content-Type"] = "application/x-www-form-urlencoded" }, body)
end
