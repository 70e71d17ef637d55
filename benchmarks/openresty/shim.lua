-- A minimal dialua API for nginx's Lua module (the OpenResty model), so the
-- very same script file runs under both servers in benchmarks/compare.sh.
-- It follows the OpenResty way of doing things: the script is compiled once
-- per worker, modules are cached in package.loaded for the worker's life,
-- and each request gets a fresh global environment. It implements only what
-- scripts/demo/support.lua uses; it is a benchmark fixture, not a port.
local M = {}

local cache = {}
local dict = ngx.shared.sessions

local function esc(s)
  return (tostring(s):gsub('[&<>"]', { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;" }))
end

local Response = {}
Response.__index = Response

function Response:set_var(name, value)
  self[#self + 1] = '<SetVar name="' .. esc(name) .. '">' .. esc(value) .. '</SetVar>'
  return self
end

function Response:play_tts(t)
  self[#self + 1] = '<PlayTTS voice="' .. esc(t.voice) .. '">' .. esc(t[1]) .. '</PlayTTS>'
  return self
end

function Response:play_sound(t)
  self[#self + 1] = '<PlaySound>' .. esc(t[1]) .. '</PlaySound>'
  return self
end

function Response:jump(t)
  self[#self + 1] = '<Jump context="' .. esc(t.context) .. '" option="' .. esc(t.option or "start") .. '"/>'
  return self
end

function Response:hangup()
  self[#self + 1] = '<Hangup/>'
  return self
end

local function classify(p)
  local t = (p.EventType or ""):lower():gsub("[-_ ]", "")
  if t == "dialin" then return "dial-in" elseif t == "dialout" then return "dial-out"
  elseif t == "hangup" then return "hangup" end
  local st = p.CallStatus or ""
  if st == "CALLING" then return (p.CallFlow == "OUT") and "dial-out" or "dial-in" end
  if st == "BUSY" or st == "NOANSWER" or st == "CANCEL" or st == "CONGESTION" or st == "CHANUNAVAIL" then
    return "hangup"
  end
  return "interactive"
end

local function session_for(call_id)
  local prefix = (call_id or "") .. ":"
  return {
    get = function(k) return dict:get(prefix .. k) end,
    set = function(k, v) return dict:set(prefix .. k, v, 3600) end,
    incr = function(k, n) return dict:incr(prefix .. k, n or 1, 0, 3600) end,
    delete = function(k) dict:delete(prefix .. k) return true end,
  }
end

local log = {
  info = function(msg) ngx.log(ngx.INFO, msg) end,
  warn = function(msg) ngx.log(ngx.WARN, msg) end,
  error = function(msg) ngx.log(ngx.ERR, msg) end,
}

function M.run(path)
  local fn = cache[path]
  if not fn then
    fn = assert(loadfile(path))
    cache[path] = fn
  end
  local params = {}
  for k, v in pairs(ngx.req.get_uri_args()) do
    if type(v) == "table" then v = v[#v] end
    if v == true then v = "" end
    params[k] = v
  end
  local resp = setmetatable({}, Response)
  local env = setmetatable({
    request = { params = params, event = classify(params), call_id = params.CallID, caller_id_num = params.CallerIDNum },
    response = resp,
    session = session_for(params.CallID),
    env = {},
    log = log,
  }, { __index = _G })
  setfenv(fn, env)
  fn()
  ngx.header.content_type = "text/xml; charset=utf-8"
  ngx.print('<?xml version="1.0" encoding="UTF-8"?>\n<Response>', table.concat(resp), '</Response>\n')
end

return M
