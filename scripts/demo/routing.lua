-- Behaviour-based transfer: the IVR's menus set variables as the caller moves
-- (`interest` from the main menu, `language` from the language menu) and this
-- script keeps a count of unanswered menus in `timeouts`. The IVR calls
--   /demo/routing?interest=$interest&language=$language&timeouts=$timeouts
-- and the script decides the next context:
--   VIP caller number            -> VIPDesk
--   interest chosen               -> that desk, in the caller's language when
--                                    there is one, else the English desk
--   no interest, too many silences -> Operator
--   no interest yet               -> count the silence, back to MainMenu

if request.event == "hangup" then return end

local rules = require("routing_rules")
local p = request.params
local language = (p.language ~= nil and p.language ~= "") and p.language or "en"

if rules.vip_numbers[request.caller_id_num or ""] then
  response:set_var("route", "vip")
  response:jump{context = "VIPDesk", option = "start"}
  return
end

local desk = rules.desks[p.interest or ""]
if desk then
  local context = desk[language] or desk.en
  response:set_var("route", p.interest)
  response:play_sound{"transferring", language = language}
  response:jump{context = context, option = "start"}
  return
end

local timeouts = (tonumber(p.timeouts) or 0) + 1
if timeouts > rules.max_timeouts then
  response:set_var("route", "operator")
  response:jump{context = "Operator", option = "start"}
else
  response:set_var("timeouts", timeouts)
  response:play_sound{"please-choose", language = language}
  response:jump{context = "MainMenu", option = "start"}
end
