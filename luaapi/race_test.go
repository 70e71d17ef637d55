//go:build race

package luaapi_test

// raceSlowdown scales the time bounds of tests whose scripts do much work
// when the race detector (which runs Lua several times slower) is on; the
// bounds hold unscaled in ordinary runs.
const raceSlowdown = 4
