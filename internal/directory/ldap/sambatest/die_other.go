//go:build !linux

package sambatest

import "os/exec"

// dieWithTest has no portable equivalent: Close stops samba.
func dieWithTest(*exec.Cmd) {}
