-- dialua: data (built once per VM, read-only: docs/lua-api.md#data-modules)
-- Subscription ids the support line accepts, with the caller's name and the
-- queue tier. Real deployments ask a CRM over HTTP; this table stands in.
return {
  ["934924"] = { name = "Alice Martin", tier = "gold" },
  ["100200"] = { name = "Bob Ionescu", tier = "standard" },
  ["555123"] = { name = "Carla Diaz", tier = "standard", suspended = true },
}
