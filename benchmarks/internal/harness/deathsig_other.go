//go:build !linux

package harness

import "os/exec"

// SetDeathSignal: only Linux has a parent-death signal; elsewhere the
// harness's own cleanup has to do.
func SetDeathSignal(*exec.Cmd) {}
