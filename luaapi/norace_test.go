//go:build !race

package luaapi_test

// raceSlowdown: see race_test.go.
const raceSlowdown = 1
