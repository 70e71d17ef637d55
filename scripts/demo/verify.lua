-- SecureMyForm-style phone verification. A web form started this call through
-- the call-control API and shows the user a two-digit code. The pending
-- verification is found by the call's CallAPIID.
--
-- On the Dial-Out event (the phone system calling the user) the script looks
-- the verification up once and keeps the expected code in the call's session.
-- Then the IVR records the digits into `activationCode` and calls
--   /demo/verify?activationCode=$activationCode
--   digits match   -> mark verified (IVR variable `verified`), Hangup
--   digits differ  -> count the miss in the session, Pause 5 (the IVR asks again)
--   third miss     -> mark the number banned, say so, Hangup
-- Without a session (no CallID, store down) it looks the code up on every
-- request and counts misses in the IVR variable verify_attempts instead.

local VOICE = "Alice-8KHz"
local MAX_MISSES = 3
local data = require("verifications")

local function pending_for_call()
  return data.pending[request.call_api_id or ""]
end

if request.event == "dial-out" or request.event == "dial-in" then
  local pending = pending_for_call()
  if pending then
    session.set("code", pending.code)
    session.set("phone", pending.phone)
  end
  return
end
if request.event == "hangup" then return end

local code, phone = session.get("code"), session.get("phone")
if not code then
  local pending = pending_for_call()
  if pending then code, phone = pending.code, pending.phone end
end

if not code then
  response:play_tts{"There is no verification waiting for this call.", voice = VOICE}
  response:hangup()
  return
end

if data.banned[phone] then
  response:play_tts{"This number is blocked. Try again tomorrow.", voice = VOICE}
  response:hangup()
  return
end

if request.params.activationCode == code then
  response:set_var("verified", "1")
  response:hangup()
  return
end

local misses = session.incr("misses")
if not misses then
  misses = (tonumber(request.params.attempts) or 0) + 1
end
response:set_var("verify_attempts", misses)
if misses >= MAX_MISSES then
  response:set_var("banned", "1")
  response:play_tts{"Too many wrong codes. This number is blocked for one day.", voice = VOICE}
  response:hangup()
else
  response:pause(5)
end
