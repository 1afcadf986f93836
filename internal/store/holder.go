package store

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// hostname is this machine's name as lock holders spell it.
var hostname, _ = os.Hostname()

// holderDead reports whether a lock holder named "host:pid:…" is a
// process on this host that no longer exists. A holder on another host,
// or one whose name does not parse, is taken to be alive: only its lease
// can say it is gone.
func holderDead(holder string) bool {
	parts := strings.SplitN(holder, ":", 3)
	if len(parts) < 2 || hostname == "" || parts[0] != hostname {
		return false
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil || pid <= 0 {
		return false
	}
	if pid == os.Getpid() {
		return false
	}
	return !processAlive(pid)
}

// processAlive asks the kernel whether pid exists (signal 0 sends
// nothing). EPERM means it exists but belongs to someone else.
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}
