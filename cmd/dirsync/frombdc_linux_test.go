package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestConfigImportFromBDCAsksOnATerminal: on a terminal, the secrets
// Directory Connector kept in the keychain are asked for with echo off,
// and the import then succeeds.
func TestConfigImportFromBDCAsksOnATerminal(t *testing.T) {
	c := newCLI(t)
	data := c.bdcDataFile(nil)
	ctl, tty := openPTY(t)
	defer ctl.Close()
	var echoed bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
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
		done <- run(context.Background(), []string{"--db", c.db, "config", "import", "--from-bdc", data}, tty, &bytes.Buffer{}, &stderr)
	}()
	typeAt := func(prompt, value string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
			if err == nil && strings.Contains(stderr.String(), prompt) && tio.Lflag&unix.ECHO == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no prompt %q with echo off; stderr %q", prompt, stderr.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		if _, err := ctl.Write([]byte(value + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	typeAt("The organization API key's client secret (bitwarden.clientSecret): ", c.bw.ClientSecret())
	typeAt("The Okta API token (okta.token): ", c.okta.Token())
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("import on a terminal: exit %d %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the import did not finish")
	}
	tty.Close()
	ctl.Close()
	wg.Wait()
	if strings.Contains(echoed.String(), c.okta.Token()) || strings.Contains(echoed.String(), c.bw.ClientSecret()) {
		t.Errorf("the terminal echoed a secret: %q", echoed.String())
	}
	if code, _, stderr := c.run("", "sync"); code != 0 {
		t.Fatalf("sync after the import: exit %d: %s", code, stderr)
	}
}
