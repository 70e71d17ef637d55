-- dialua: data (built once per VM, read-only: docs/lua-api.md#data-modules)
-- Balances in cents, by caller-ID number.
return {
  ["0040741234567"] = { balance = 1050, language = "en" },
  ["0003*306"] = { balance = 250000, language = "fr" },
  ["0040749999999"] = { balance = 0, language = "en" },
}
