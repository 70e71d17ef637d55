package main

import (
	"os/exec"
	"syscall"
)

// setDeathSignal has the kernel kill the server if the harness dies, so an
// interrupted run never leaves a loaded server behind.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
