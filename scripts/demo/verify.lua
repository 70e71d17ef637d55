-- SecureMyForm-style phone verification. A web form started this call through
-- the call-control API and shows the user a two-digit code. The pending
-- verification is found by the call's CallAPIID.
--
-- On the Dial-Out event (the phone system calling the user) the script looks
-- the verification up once and keeps the expected code in the call's session.
-- Then the IVR records the digits into `activationCode` and calls
--   /demo/verify?activationCode=$activationCode
--   number banned  -> say so, Hangup (whatever the digits)
--   digits match   -> mark verified (IVR variable `verified`), Hangup
--   digits differ  -> count the miss for the number, Pause 5 (the IVR asks again)
--   third miss     -> the number is banned for a day: say so, Hangup
-- Misses are counted per caller number (CallerIDNum, else the number the
-- verification is for) in the tenant's store, across calls: three wrong codes
-- within a day of each other, in one call or in several, ban the number for a
-- day after the third. A right code does not wipe the earlier misses: with a
-- two-digit code, guesses are what a ban is there to limit.
-- Without a session (no CallID, store down) it looks the code up on every
-- request; with the store down it counts on from the `attempts` parameter
-- (an IVR whose URL passes $verify_attempts there), and a ban lasts for the
-- call.

local VOICE = "Alice-8KHz"
local MAX_MISSES = 3
local DAY = 24 * 3600
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

local number = request.caller_id_num
if number == nil or number == "" then number = phone end
local misses_key = "verify:misses:" .. number

-- A store that cannot answer bans nobody: the call's own count still does.
if data.banned[number] or data.banned[phone] or (tonumber(store.get(misses_key)) or 0) >= MAX_MISSES then
  response:play_tts{"This number is blocked. Try again tomorrow.", voice = VOICE}
  response:hangup()
  return
end

if request.params.activationCode == code then
  response:set_var("verified", "1")
  response:hangup()
  return
end

local misses = store.incr(misses_key, 1, DAY)
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
