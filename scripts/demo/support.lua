-- Customer support: the caller keyed a subscription id into IVR variable
-- `subscription`; the IVR calls
--   /demo/support?subscription_code=$subscription&attempts=$support_attempts
-- Valid id: greet by name and jump to the tier's queue context.
-- Invalid id: apologise and send the caller back to the "Support" context to
-- key it again; the third miss ends the call. The attempt count lives in the
-- IVR variable support_attempts, which this script sets, so the script keeps
-- no state of its own between requests.

if request.event == "hangup" then return end

local MAX_ATTEMPTS = 3
local VOICE = "Alice-8KHz"
local QUEUES = { gold = "QueueGold", standard = "QueueStandard" }

local code = request.params.subscription_code or ""
local attempts = tonumber(request.params.attempts) or 0
local sub = require("subscriptions")[code]

if sub and not sub.suspended then
  response:set_var("subscription_tier", sub.tier)
  response:set_var("support_attempts", 0)
  response:play_tts{"Thank you, " .. sub.name .. ". Connecting you to " .. sub.tier .. " support.", voice = VOICE}
  response:jump{context = QUEUES[sub.tier], option = "start"}
  return
end

attempts = attempts + 1
if sub and sub.suspended then
  response:play_tts{"This subscription is suspended. Please contact billing.", voice = VOICE}
  response:hangup()
elseif attempts >= MAX_ATTEMPTS then
  response:play_sound{"invalid-subscription"}
  response:play_tts{"We could not verify your subscription. Goodbye.", voice = VOICE}
  response:hangup()
else
  response:set_var("support_attempts", attempts)
  response:play_sound{"invalid-subscription"}
  response:jump{context = "Support", option = "start"}
end
