// Command dirsync keeps a Bitwarden organization's members and groups in
// step with Okta. `dirsync serve` runs the web console; the other
// subcommands do the same work from scripts.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"

	// Every directory type, linked in (each registers itself).
	_ "github.com/dirsync/dirsync/internal/directory/all"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	// A sync's memory is mostly short-lived garbage from decoding pages;
	// collecting at 50% growth instead of Go's default 100% keeps a
	// 100,000-user sync's peak RSS under 150 MB for a few percent of CPU.
	// GOGC or GOMEMLIMIT in the environment take precedence.
	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetGCPercent(50)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfiles := startProfiles()
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stopProfiles()
	stop()
	os.Exit(code)
}

// startProfiles writes a CPU profile to $DIRSYNC_CPUPROFILE and a heap
// profile (at exit) to $DIRSYNC_MEMPROFILE, for measuring large syncs.
func startProfiles() func() {
	var stops []func()
	if p := os.Getenv("DIRSYNC_CPUPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil && pprof.StartCPUProfile(f) == nil { //nolint:gosec // G304: the operator names the file
			stops = append(stops, func() {
				pprof.StopCPUProfile()
				if err := f.Close(); err != nil {
					fmt.Fprintf(os.Stderr, "cpu profile: %v\n", err)
				}
			})
		}
	}
	if p := os.Getenv("DIRSYNC_MEMPROFILE"); p != "" {
		runtime.MemProfileRate = 64 << 10
		stops = append(stops, func() {
			if f, err := os.Create(p); err == nil { //nolint:gosec // G304: the operator names the file
				_ = pprof.Lookup("allocs").WriteTo(f, 0)
				if err := f.Close(); err != nil {
					fmt.Fprintf(os.Stderr, "heap profile: %v\n", err)
				}
			}
		})
	}
	if os.Getenv("DIRSYNC_MEMSTATS") != "" {
		// The process's own peak RSS: a parent's rusage of a child started
		// with vfork counts the parent's memory too, so measure it here.
		stops = append(stops, func() {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			hwm := "?"
			if b, err := os.ReadFile("/proc/self/status"); err == nil {
				for _, l := range strings.Split(string(b), "\n") {
					if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
						hwm = strings.TrimSpace(v)
					}
				}
			}
			fmt.Fprintf(os.Stderr, "memstats: peak RSS %s, Go heap from the OS %d MB, %d GCs\n", hwm, ms.HeapSys>>20, ms.NumGC)
		})
	}
	return func() {
		for _, s := range stops {
			s()
		}
	}
}

// Exit codes, as documented in the README and in `dirsync help`.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitLocked  = 3
	exitHeld    = 4
	exitBadConf = 5
)

// run runs one command line and returns its exit code; main and the tests
// share it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr}
	root := e.rootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	return e.exit(cmd, err)
}
