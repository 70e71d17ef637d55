//go:build !linux

package main

import "os/exec"

// setDeathSignal: only Linux has a parent-death signal; elsewhere the
// harness's own cleanup has to do.
func setDeathSignal(*exec.Cmd) {}
