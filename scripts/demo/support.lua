-- Customer support: the caller keyed a subscription id into IVR variable
-- `subscription`; the IVR calls
--   /demo/support?subscription_code=$subscription
-- The id is checked against the customer's backend (env.SUBSCRIPTIONS_API,
-- from the tenants file); when no backend is configured or it cannot be
-- reached, against lib/subscriptions.lua.
-- Valid id: greet by name and jump to the tier's queue context.
-- Invalid id: apologise and send the caller back to the "Support" context to
-- key it again; the third miss ends the call. The attempt count is kept in
-- the call's session.

local event = request.event
if event == "hangup" then
  session.delete("support_attempts")
  return
end
-- The call arriving (or leaving) is not an attempt to key an id.
if event == "dial-in" or event == "dial-out" then return end

local MAX_ATTEMPTS = 3
local VOICE = "Alice-8KHz"
local QUEUES = { gold = "QueueGold", standard = "QueueStandard" }

local code = request.params.subscription_code or ""

-- lookup returns the subscription for code, or nil when there is none.
local function lookup(code)
  local api = env.SUBSCRIPTIONS_API
  if api and code:match("^%d+$") then
    local resp, err = http.get(api .. "/subscriptions/" .. code)
    if resp and resp.status == 200 and resp.json then return resp.json end
    if resp and resp.status == 404 then return nil end
    log.warn("subscription backend unavailable; using local data", { error = err or resp.status })
  end
  return require("subscriptions")[code]
end

local sub = lookup(code)

if sub and not sub.suspended then
  session.delete("support_attempts")
  response:set_var("subscription_tier", sub.tier)
  response:set_var("support_attempts", 0)
  response:play_tts{"Thank you, " .. sub.name .. ". Connecting you to " .. sub.tier .. " support.", voice = VOICE}
  response:jump{context = QUEUES[sub.tier], option = "start"}
  return
end

if sub and sub.suspended then
  response:play_tts{"This subscription is suspended. Please contact billing.", voice = VOICE}
  response:hangup()
  return
end

-- The IVR may also send the count it keeps (attempts=$support_attempts);
-- the session is the source of truth when it works.
local attempts, err = session.incr("support_attempts")
if not attempts then
  log.warn("session unavailable; counting attempts in the IVR", { error = err })
  attempts = (tonumber(request.params.attempts) or 0) + 1
end
if attempts >= MAX_ATTEMPTS then
  response:play_sound{"invalid-subscription"}
  response:play_tts{"We could not verify your subscription. Goodbye.", voice = VOICE}
  response:hangup()
else
  response:set_var("support_attempts", attempts)
  response:play_sound{"invalid-subscription"}
  response:jump{context = "Support", option = "start"}
end
