// Command dirsync keeps a Bitwarden organization's members and groups in
// step with Okta. `dirsync serve` runs the web console; the other
// subcommands do the same work from scripts.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
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
		if f, err := os.Create(p); err == nil && pprof.StartCPUProfile(f) == nil {
			stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
		}
	}
	if p := os.Getenv("DIRSYNC_MEMPROFILE"); p != "" {
		runtime.MemProfileRate = 64 << 10
		stops = append(stops, func() {
			if f, err := os.Create(p); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
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

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitLocked  = 3
	exitHeld    = 4
	exitBadConf = 5
)

const usage = `dirsync keeps a Bitwarden organization in step with Okta.

Usage:
  dirsync [--db PATH] COMMAND [flags]

Commands:
  serve                      run the web console (--addr, --demo)
  config import FILE|-       validate and save settings from a JSON file (or stdin)
  config export              print the settings, secrets redacted
  test [--json]              read Okta and show what a sync would send (nothing is sent)
  sync [--json] [--dry-run]  run one sync now (exit 4 when held by the deletion guard)
  sync --approve RUN_ID      push a held run if the directory is unchanged (else hold the new plan, exit 4)
  sync --discard RUN_ID      discard a held run
  cache clear                forget the last push so the next sync sends everything
  history [--json] [--limit N]  list recent runs
  admin create USER          create a console admin (password from stdin)
  admin reset-password USER  set a console admin's password (password from stdin)
  version                    print the version

Global flags:
  --db PATH   the SQLite database (env DIRSYNC_DB, default ./data/dirsync.db)

Environment:
  DIRSYNC_SECRET_KEY_FILE   the master key file (default: secret.key next to the database)
`

// usageError is a wrong command line; it exits 2 with the usage hint.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// exitError carries a specific exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// env bundles the process's streams and global options for subcommands.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	dbPath string
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, dbPath: os.Getenv("DIRSYNC_DB")}
	if e.dbPath == "" {
		e.dbPath = "./data/dirsync.db"
	}
	args, err := e.globalFlags(args)
	if err == nil {
		err = e.dispatch(args)
	}
	if err == nil {
		return exitOK
	}
	var ue *usageError
	var xe *exitError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "dirsync: %s\nRun 'dirsync help' for usage.\n", ue.msg)
		return exitUsage
	case errors.As(err, &xe):
		if xe.err != nil && xe.err.Error() != "" {
			fmt.Fprintf(stderr, "dirsync: %s\n", xe.err)
		}
		return xe.code
	default:
		fmt.Fprintf(stderr, "dirsync: %s\n", err)
		return exitFailed
	}
}

// globalFlags takes --db (and -db, --db=PATH) from before the command.
func (e *env) globalFlags(args []string) ([]string, error) {
	for len(args) > 0 {
		a := args[0]
		switch {
		case a == "--db" || a == "-db":
			if len(args) < 2 || args[1] == "" {
				return nil, usagef("--db needs a path")
			}
			e.dbPath = args[1]
			args = args[2:]
		case len(a) > 5 && (a[:5] == "--db=" || a[:4] == "-db="):
			e.dbPath = a[len("--db="):]
			if a[1] != '-' {
				e.dbPath = a[len("-db="):]
			}
			if e.dbPath == "" {
				return nil, usagef("--db needs a path")
			}
			args = args[1:]
		default:
			return args, nil
		}
	}
	return args, nil
}

func (e *env) dispatch(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usage)
		return &exitError{code: exitUsage, err: errors.New("")}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(e.stdout, usage)
		return nil
	case "version", "--version":
		fmt.Fprintf(e.stdout, "dirsync %s\n", version)
		return nil
	case "serve":
		return e.cmdServe(rest)
	case "config":
		if len(rest) == 0 {
			return usagef("config needs a subcommand: import FILE|- or export")
		}
		switch rest[0] {
		case "import":
			return e.cmdConfigImport(rest[1:])
		case "export":
			return e.cmdConfigExport(rest[1:])
		}
		return usagef("unknown config subcommand %q; use import or export", rest[0])
	case "test":
		return e.cmdTest(rest)
	case "sync":
		return e.cmdSync(rest)
	case "cache":
		if len(rest) == 0 || rest[0] != "clear" {
			return usagef("cache needs the subcommand clear")
		}
		return e.cmdCacheClear(rest[1:])
	case "history":
		return e.cmdHistory(rest)
	case "admin":
		if len(rest) == 0 {
			return usagef("admin needs a subcommand: create USER or reset-password USER")
		}
		switch rest[0] {
		case "create":
			return e.cmdAdmin(rest[1:], true)
		case "reset-password":
			return e.cmdAdmin(rest[1:], false)
		}
		return usagef("unknown admin subcommand %q; use create or reset-password", rest[0])
	}
	return usagef("unknown command %q", cmd)
}
