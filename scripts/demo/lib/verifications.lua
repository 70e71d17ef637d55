-- dialua: data (built once per VM, read-only: docs/lua-api.md#data-modules)
-- Pending phone verifications, by the call-control API id of the call the web
-- form started, and numbers banned from the start. A real form backend would
-- keep these in its own database; the misses the script counts live in the
-- tenant's store.
return {
  pending = {
    ["3584705175:5205dc5cc5a411e5ab9eb3691b90ea15"] = { code = "42", phone = "0040741234567" },
    ["3584705176:77aa00"] = { code = "07", phone = "0040741111111" },
  },
  banned = { ["0040740000000"] = true },
}
