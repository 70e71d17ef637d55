-- Phone payments: in the "Payment" menu the caller pressed 1 for the balance
-- read out by text-to-speech or 2 for pre-recorded sounds; the IVR recorded the
-- digit into `billing_format` and calls
--   /demo/payment?format=$billing_format
-- The account is found by the caller's number. Any other digit is an invalid
-- choice: the caller hears so and goes back to the menu. The chosen format is
-- remembered in the call's session, so a later request without a format
-- (the caller asking to hear the balance again) answers the same way.

if request.event == "hangup" then return end

local VOICE = "Alice-8KHz"
local account = require("accounts")[request.caller_id_num or ""]

if not account then
  response:play_tts{"We could not find an account for this phone number. Goodbye.", voice = VOICE}
  response:hangup()
  return
end

local dollars = math.floor(account.balance / 100)
local cents = account.balance % 100
local format = request.params.format
if format == nil or format == "" then
  format = session.get("format")
elseif format == "1" or format == "2" then
  session.set("format", format)
end

if format == "1" then
  local text = "Your balance is " .. dollars .. " dollars"
  if cents > 0 then text = text .. " and " .. cents .. " cents" end
  response:play_tts{text .. ".", voice = VOICE}
  response:set_var("payment_format", "tts")
elseif format == "2" then
  local lang = account.language
  response:play_sound{"your-balance-is", language = lang}
  response:play_sound{tostring(dollars), folder = "digits", language = lang}
  response:play_sound{"dollars", language = lang}
  if cents > 0 then
    response:play_sound{"and", language = lang}
    response:play_sound{tostring(cents), folder = "digits", language = lang}
    response:play_sound{"cents", language = lang}
  end
  response:set_var("payment_format", "sounds")
else
  response:play_sound{"invalid-option"}
  response:jump{context = "Payment", option = "start"}
end
