package harness

import (
	"os/exec"
	"syscall"
)

// SetDeathSignal has the kernel kill the server if the harness dies, so an
// interrupted run never leaves a loaded server behind.
func SetDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
