-- Greets a known caller by name, records their tier and sends them to
-- their tier's queue; an unknown caller goes to the general queue.
-- crm is the Go CRM the embedding program exposes with luar.Value.
local customer, err = crm:Lookup(request.caller_id_num)
if not customer then
  log.info("caller not in the CRM", {reason = err})
  response:play_tts{"Welcome to Acme. An agent will be with you shortly.", voice = "Alice-8KHz"}
  response:jump{context = "QueueGeneral"}
  return
end
response:play_tts{"Hello " .. customer.Name .. ", welcome back to Acme.", voice = "Alice-8KHz"}
response:set_var("tier", customer.Tier)
response:jump{context = customer.Queue}
