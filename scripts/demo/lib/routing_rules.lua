-- dialua: data (built once per VM, read-only: docs/lua-api.md#data-modules)
-- Where callers go, decided from what their path through the IVR set.
return {
  vip_numbers = { ["0040741234567"] = true },
  desks = {
    sales = { en = "Sales", fr = "SalesFrench" },
    support = { en = "Support", fr = "SupportFrench" },
    billing = { en = "Billing" },
  },
  max_timeouts = 2,
}
