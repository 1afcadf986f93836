// Command dirsync-bench measures whole `dirsync sync` processes against an
// in-process fake Okta (with a fixed latency per request) and fake
// Bitwarden: Okta requests against their lower bound, wall time against
// requests × latency / concurrency, and the process's peak RSS, for a cold
// run (nothing cached), a warm one (nothing changed) and one after a single
// user changed (its email, and one of its groups), with the import bytes
// each sends.
//
//	go build -o bin/dirsync ./cmd/dirsync
//	go run ./cmd/dirsync-bench -dirsync bin/dirsync -sizes 10k,100k
//	go run ./cmd/dirsync-bench -dirsync bin/dirsync -logins 200
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/dirsync/dirsync/internal/bitwarden/bwtest"
	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
)

type size struct {
	name            string
	users, groups   int
	membersPerGroup int
	deprovisioned   int
}

var verbose *bool

// sizes are the orgs. Like every real org they hold some
// deprovisioned accounts (1.5%); with none at all, the read costs one
// request more than the bound, the one that finds the list empty.
var sizes = map[string]size{
	"10k":  {"10k users / 200 groups × 100", 10_000, 200, 100, 150},
	"100k": {"100k users / 2k groups × 250", 100_000, 2_000, 250, 1_500},
}

func main() {
	bin := flag.String("dirsync", "bin/dirsync", "the dirsync binary to measure")
	which := flag.String("sizes", "10k,100k", "comma-separated sizes: 10k, 100k")
	latency := flag.Duration("latency", 20*time.Millisecond, "fake Okta latency per request")
	concurrency := flag.Int("concurrency", 4, "okta.concurrency")
	verbose = flag.Bool("v", false, "print the plan and push times of each run")
	logins := flag.Int("logins", 0, "instead of syncs: start `dirsync serve` and measure its peak RSS under this many parallel logins")
	flag.Parse()
	if _, err := os.Stat(*bin); err != nil {
		fail("the dirsync binary: %v (build it with `go build -o bin/dirsync ./cmd/dirsync`)", err)
	}
	if *logins > 0 {
		measureLogins(*bin, *logins)
		return
	}
	fmt.Printf("fake Okta latency %v per request, okta.concurrency %d\n\n", *latency, *concurrency)
	fmt.Println("requests: Okta requests sent; bound: the issue's lower bound (it does not count the request that finds no")
	fmt.Println("deprovisioned users, nor the empty page Okta serves after an exactly full last page; warm: the delta user")
	fmt.Println("request and the group list; 1user: that plus the member pages of the one group the change moved); wall: the whole process;")
	fmt.Println("read: the directory read; ideal: requests × latency / concurrency; ratio: read / ideal; peak RSS: the process's")
	fmt.Println()
	fmt.Printf("%-30s %-5s %9s %9s %9s %9s %10s %8s %9s\n", "org", "run", "requests", "bound", "wall", "read", "ideal", "ratio", "peak RSS")
	for _, name := range strings.Split(*which, ",") {
		sz, ok := sizes[strings.TrimSpace(name)]
		if !ok {
			fail("unknown size %q (use 10k or 100k)", name)
		}
		measure(*bin, sz, *latency, *concurrency)
	}
}

func measure(bin string, sz size, latency time.Duration, concurrency int) {
	org := oktatest.Generate(oktatest.Spec{Users: sz.users, Groups: sz.groups, MembersPerGroup: sz.membersPerGroup, Deprovisioned: sz.deprovisioned, Seed: 42})
	okta := oktatest.New(oktatest.Options{Latency: latency, RateLimit: 1_000_000})
	defer okta.Close()
	okta.SetOrg(org)
	bw := bwtest.New(bwtest.Options{})
	defer bw.Close()

	dir, err := os.MkdirTemp("", "dirsync-bench-")
	if err != nil {
		fail("%v", err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	db := filepath.Join(dir, "bench.db")
	settings := map[string]any{
		"directory": map[string]any{"type": "okta", "okta": map[string]any{"orgUrl": okta.URL, "token": okta.Token(), "concurrency": concurrency}},
		"bitwarden": map[string]any{"server": bw.URL, "clientId": bw.ClientID(), "clientSecret": bw.ClientSecret()},
		"sync":      map[string]any{"intervalMinutes": 60, "largeImport": true, "users": true, "groups": true},
		"guard":     map[string]any{"maxRemovals": 0, "maxRemovalPercent": 0},
	}
	in, _ := json.Marshal(settings)
	if out, err := run(bin, bytes.NewReader(in), "--db", db, "config", "import", "-"); err != nil {
		fail("config import: %v\n%s", err, out)
	}

	live, deprov := 0, 0
	for _, u := range org.Users {
		if u.Status == "DEPROVISIONED" {
			deprov++
		} else {
			live++
		}
	}
	pages := func(n, per int) int { return (n + per - 1) / per }
	userPages := pages(live, 200) + pages(deprov, 200)
	groupPages := max(1, pages(len(org.Groups), 10_000))
	cold := userPages + groupPages
	for _, g := range org.Groups {
		cold += max(1, pages(len(g.Members), 1000))
	}
	// A warm run reads only the users changed since the last read (a delta
	// request) and the group list; a run after one user changed adds the
	// member pages of the group whose membership that change moved.
	warm := 1 + groupPages
	var changedUser *oktatest.User
	var changedGroup *oktatest.Group
	for _, g := range org.Groups {
		if len(g.Members) > 0 {
			changedGroup = g
			changedUser = org.User(g.Members[0])
			break
		}
	}
	changed := warm + max(1, pages(len(changedGroup.Members)-1, 1000))
	changeOneUser := func() {
		if err := okta.SetUserEmail(changedUser.ID, "changed.user@example.com"); err != nil {
			fail("change a user: %v", err)
		}
		if err := okta.RemoveMember(changedGroup.ID, changedUser.ID); err != nil {
			fail("change a user: %v", err)
		}
	}

	for _, r := range []struct {
		name   string
		bound  int
		before func()
	}{{"cold", cold, nil}, {"warm", warm, nil}, {"1user", changed, changeOneUser}} {
		if r.before != nil {
			r.before()
		}
		imports := len(bw.Imports())
		before := okta.Requests()
		start := time.Now()
		cmd := exec.Command(bin, "--db", db, "sync", "--json") //nolint:gosec // G204: the dirsync binary under test
		cmd.Env = append(os.Environ(), "DIRSYNC_MEMSTATS=1")
		if g := os.Getenv("DIRSYNC_BENCH_GODEBUG"); g != "" {
			cmd.Env = append(cmd.Env, "GODEBUG="+g)
		}
		if dir := os.Getenv("DIRSYNC_BENCH_PROFILES"); dir != "" {
			cmd.Env = append(cmd.Env,
				"DIRSYNC_CPUPROFILE="+filepath.Join(dir, strings.Fields(sz.name)[0]+"-"+r.name+".cpu"),
				"DIRSYNC_MEMPROFILE="+filepath.Join(dir, strings.Fields(sz.name)[0]+"-"+r.name+".mem"))
		}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			fail("%s sync: %v\n%s", r.name, err, stderr.String())
		}
		if os.Getenv("DIRSYNC_BENCH_GODEBUG") != "" {
			fmt.Print(stderr.String())
		}
		wall := time.Since(start)
		reqs := okta.Requests() - before
		var rec struct {
			Status  string `json:"status"`
			Timings struct {
				ReadMS int64 `json:"readMs"`
				PlanMS int64 `json:"planMs"`
				PushMS int64 `json:"pushMs"`
			} `json:"timings"`
		}
		_ = json.Unmarshal(stdout.Bytes(), &rec)
		// The child reports its own VmHWM ("memstats: peak RSS 123456 kB").
		rss := int64(0)
		if _, after, ok := strings.Cut(stderr.String(), "memstats: peak RSS "); ok {
			var kb int64
			if _, err := fmt.Sscanf(after, "%d kB", &kb); err == nil {
				rss = kb * 1024
			}
		}
		ideal := time.Duration(reqs) * latency / time.Duration(concurrency)
		read := time.Duration(rec.Timings.ReadMS) * time.Millisecond
		fmt.Printf("%-30s %-5s %9d %9d %9s %9s %10s %7.2fx %6.1f MB   (%s)\n", sz.name, r.name, reqs, r.bound,
			wall.Round(10*time.Millisecond), read.Round(10*time.Millisecond), ideal.Round(10*time.Millisecond),
			float64(read)/float64(ideal), float64(rss)/1e6, rec.Status)
		sent := 0
		for _, imp := range bw.Imports()[imports:] {
			sent += len(imp.Raw)
		}
		fmt.Printf("%-30s       import bytes sent: %d in %d request(s)\n", "", sent, len(bw.Imports())-imports)
		if *verbose {
			fmt.Printf("%-30s       plan %dms, push %dms (Bitwarden reads, diff, imports)\n", "", rec.Timings.PlanMS, rec.Timings.PushMS)
		}
	}
	fmt.Printf("%-30s bitwarden imports: %d, members in org: %d\n\n", "", len(bw.Imports()), len(bw.Members()))
}

func run(bin string, stdin *bytes.Reader, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...) //nolint:gosec // G204: the dirsync binary under test
	cmd.Stdin = stdin
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "dirsync-bench: "+format+"\n", a...)
	os.Exit(1)
}
