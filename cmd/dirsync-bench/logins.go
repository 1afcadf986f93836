package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// measureLogins starts a real `dirsync serve` on loopback with one admin,
// fires n logins at once from n loopback addresses (half with distinct
// unknown user names, half with the admin's name and a wrong password, the
// two shapes of a password spray), and prints the answers by status and the server's peak RSS
// (VmHWM), read from /proc while it still runs.
func measureLogins(bin string, n int) {
	dir, err := os.MkdirTemp("", "dirsync-logins-")
	if err != nil {
		fail("%v", err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	db := filepath.Join(dir, "dirsync.db")
	if out, err := run(bin, bytes.NewReader([]byte("a long enough passphrase\n")), "--db", db, "admin", "create", "alice"); err != nil {
		fail("admin create: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail("%v", err)
	}
	addr := l.Addr().String()
	_ = l.Close() // only held to pick a free port
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--db", db, "serve", "--addr", addr) //nolint:gosec // G204: the dirsync binary under test
	cmd.Env = append(os.Environ(), "DIRSYNC_LOG_LEVEL=error")
	if err := cmd.Start(); err != nil {
		fail("start serve: %v", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			_ = resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			fail("the console did not start on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	before := vmHWM(cmd.Process.Pid)
	// Each login comes from its own loopback address (127.0.0.2, .3, …),
	// as a spray from many hosts would, so per-address limits do not
	// hide the cost of the password checks.
	tr := &http.Transport{MaxIdleConnsPerHost: n, DisableKeepAlives: true}
	var next atomic.Int64
	tr.DialContext = func(ctx context.Context, network, address string) (net.Conn, error) {
		i := next.Add(1)
		local := &net.TCPAddr{IP: net.IPv4(127, byte(i/250), byte(i%250), 2)}
		return (&net.Dialer{LocalAddr: local}).DialContext(ctx, network, address)
	}
	client := &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       5 * time.Minute,
	}
	var (
		mu       sync.Mutex
		statuses = map[string]int{}
		wg       sync.WaitGroup
		start    = make(chan struct{})
	)
	t0 := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprintf("nobody%d", i)
			if i%2 == 1 {
				user = "alice"
			}
			form := url.Values{"username": {user}, "password": {fmt.Sprintf("wrong password %d", i)}}
			<-start
			key := "error"
			resp, err := client.Post(base+"/login", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
			if err == nil {
				_ = resp.Body.Close()
				key = fmt.Sprint(resp.StatusCode)
			}
			mu.Lock()
			statuses[key]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	took := time.Since(t0)
	fmt.Printf("%d parallel logins in %v: answers %v; peak RSS of dirsync serve %s (at start %s)\n",
		n, took.Round(time.Millisecond), statuses, vmHWM(cmd.Process.Pid), before)
}

// vmHWM is a process's peak resident set size as /proc reports it.
func vmHWM(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
