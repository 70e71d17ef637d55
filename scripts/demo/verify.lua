-- SecureMyForm-style phone verification. A web form started this call through
-- the call-control API and shows the user a two-digit code; the IVR recorded
-- the digits into `activationCode` and calls
--   /demo/verify?activationCode=$activationCode&attempts=$verify_attempts
-- The pending verification is found by the call's CallAPIID.
--   digits match   -> mark verified (IVR variable `verified`), Hangup
--   digits differ  -> count the miss, Pause 5 (the IVR then asks again)
--   third miss     -> mark the number banned, say so, Hangup

if request.event == "hangup" then return end

local VOICE = "Alice-8KHz"
local MAX_MISSES = 3
local data = require("verifications")
local pending = data.pending[request.call_api_id or ""]

if not pending then
  response:play_tts{"There is no verification waiting for this call.", voice = VOICE}
  response:hangup()
  return
end

if data.banned[pending.phone] then
  response:play_tts{"This number is blocked. Try again tomorrow.", voice = VOICE}
  response:hangup()
  return
end

if request.params.activationCode == pending.code then
  response:set_var("verified", "1")
  response:hangup()
  return
end

local misses = (tonumber(request.params.attempts) or 0) + 1
response:set_var("verify_attempts", misses)
if misses >= MAX_MISSES then
  response:set_var("banned", "1")
  response:play_tts{"Too many wrong codes. This number is blocked for one day.", voice = VOICE}
  response:hangup()
else
  response:pause(5)
end
