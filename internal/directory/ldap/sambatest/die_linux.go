package sambatest

import (
	"os/exec"
	"syscall"
)

// dieWithTest makes the kernel kill samba when the test binary dies (a
// panic or a -timeout ends it before any cleanup runs).
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
