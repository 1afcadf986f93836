package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair: what the test writes to the
// controller is what a user types on the terminal.
func openPTY(t *testing.T) (controller, terminal *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err == nil {
		err = unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0)
	}
	if err != nil {
		m.Close()
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	return m, s
}

// TestAdminPromptHidesThePassword types the password on a real (pseudo)
// terminal: the prompt asks twice, the terminal does not echo it, and the
// admin can then be used.
func TestAdminPromptHidesThePassword(t *testing.T) {
	c := newCLI(t)
	ctl, tty := openPTY(t)
	defer ctl.Close()
	var echoed bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // everything the terminal shows
		defer wg.Done()
		buf := make([]byte, 1024)
		for {
			n, err := ctl.Read(buf)
			echoed.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), []string{"--db", c.db, "admin", "create", "alice"}, tty, &bytes.Buffer{}, &stderr)
	}()
	const pw = "correct horse battery"
	// Type once the prompt is up and echo is off, as a person would.
	typeAt := func(prompt string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
			if err == nil && strings.Count(stderr.String(), prompt) == 1 && tio.Lflag&unix.ECHO == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no prompt %q with echo off; stderr %q", prompt, stderr.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		if _, err := ctl.Write([]byte(pw + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	typeAt("Password for alice: ")
	typeAt("Repeat the password: ")
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("admin create on a terminal: exit %d %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("admin create did not finish")
	}
	tty.Close()
	ctl.Close()
	wg.Wait()
	if strings.Contains(echoed.String(), "horse") {
		t.Errorf("the terminal echoed the password: %q", echoed.String())
	}
	if code, _, stderr := c.run(pw+"\n", "admin", "reset-password", "alice"); code != exitOK {
		t.Errorf("the admin typed on the terminal does not exist: %s", stderr)
	}
}
