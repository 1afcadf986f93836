package main

// The command tree is built with cobra (github.com/spf13/cobra): GNU-style
// flags from pflag (--flag=value, --flag value, -h, flags before or after
// the arguments), `dirsync help CMD`, `CMD --help` and shell completion
// (`dirsync completion bash|zsh|fish|powershell`) come with it, and it is
// the most used and best kept of the Go CLI libraries. Cobra has no
// environment variables of its own, so every flag gets its twin here:
// DIRSYNC_ and the flag's name in capitals (--log-level → DIRSYNC_LOG_LEVEL),
// listed in the flag's help and applied when the flag is not given.
//
// Adding a command: write a func (e *env) xxxCmd() *cobra.Command with
// Args (noArgs or exactArgs) and RunE, and add it in rootCmd. Flags need
// nothing more than cmd.Flags().XxxVar: their environment twin is added
// when the tree is built. Do not set PersistentPreRunE on a subcommand
// (cobra runs only the nearest one, and the root's applies the environment).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
)

// defaultDB is where the database lives when neither --db nor DIRSYNC_DB
// says otherwise.
const defaultDB = "./data/dirsync.db"

// env bundles the process's streams and global options for subcommands.
type env struct {
	ctx     context.Context
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
	dbPath  string
	keyFile string
	// started is set once the command line is accepted (flags parsed,
	// arguments checked, environment applied): an error after that is the
	// command's own (exit 1 unless it says otherwise), one before it a
	// wrong command line (exit 2).
	started bool
}

const rootLong = `dirsync keeps a Bitwarden organization's members and groups in step with
Okta. 'dirsync serve' runs the web console; the other commands do the same
work from scripts and cron.

Exit codes:
  0  success (also "unchanged" and a dry run)
  1  the command failed (the reason is on stderr; a failed run is in history)
  2  wrong command line
  3  another sync of this profile is running
  4  the run is held for approval by the deletion guard
  5  invalid settings, or none saved yet

Every flag can also be set in the environment: DIRSYNC_ and the flag's name
in capitals, - as _ (--db → DIRSYNC_DB, --log-level → DIRSYNC_LOG_LEVEL). A
flag on the command line wins. Other environment variables:
  DIRSYNC_METRICS_TOKEN   bearer token required by /metrics (serve)
  DIRSYNC_MEMSTATS, DIRSYNC_CPUPROFILE, DIRSYNC_MEMPROFILE
                          print peak memory / write CPU and heap profiles`

// rootCmd builds the command tree.
func (e *env) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "dirsync",
		Short:         "Keep a Bitwarden organization in step with Okta",
		Long:          rootLong,
		Version:       version,
		Args:          noArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		// No command: the usage on stderr and exit 2, as scripts expect
		// from a command line that does nothing.
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprint(e.stderr, cmd.UsageString())
			return &exitError{code: exitUsage}
		},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd); err != nil {
				return err
			}
			if e.dbPath == "" {
				return usagef("--db needs a path (or leave it out for %s)", defaultDB)
			}
			e.started = true
			return nil
		},
	}
	root.SetVersionTemplate("dirsync {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		msg := err.Error()
		if strings.Contains(msg, "unknown shorthand flag") {
			msg += "; long flags take two dashes (--db=PATH)"
		}
		return &usageError{msg}
	})
	pf := root.PersistentFlags()
	pf.StringVar(&e.dbPath, "db", defaultDB, "the SQLite database")
	pf.StringVar(&e.keyFile, "secret-key-file", "", "the master key file (default: secret.key next to the database)")

	root.AddCommand(
		e.serveCmd(),
		e.healthcheckCmd(),
		e.configCmd(),
		e.testCmd(),
		e.syncCmd(),
		e.cacheCmd(),
		e.historyCmd(),
		e.checkCmd(),
		e.adminCmd(),
		e.versionCmd(),
	)
	documentEnv(root)
	return root
}

// envAnnotation is the pflag annotation holding a flag's environment twin.
const envAnnotation = "dirsync_env"

// envName is a flag's environment twin: --log-level → DIRSYNC_LOG_LEVEL.
func envName(flag string) string {
	return "DIRSYNC_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// documentEnv gives every flag of the tree its environment twin and says
// so in its help. Persistent flags are shared by the subcommands, so each
// flag is annotated once.
func documentEnv(c *cobra.Command) {
	annotate := func(f *pflag.Flag) {
		if f.Name == "help" || f.Name == "version" || f.Annotations[envAnnotation] != nil {
			return
		}
		name := envName(f.Name)
		if f.Annotations == nil {
			f.Annotations = map[string][]string{}
		}
		f.Annotations[envAnnotation] = []string{name}
		f.Usage += " (env " + name + ")"
	}
	c.PersistentFlags().VisitAll(annotate)
	c.Flags().VisitAll(annotate)
	for _, sub := range c.Commands() {
		documentEnv(sub)
	}
}

// applyEnv sets every flag not given on the command line from its
// environment twin, if that is set and not empty.
func applyEnv(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		names := f.Annotations[envAnnotation]
		if err != nil || f.Changed || len(names) == 0 {
			return
		}
		v, ok := os.LookupEnv(names[0])
		if !ok || v == "" {
			return
		}
		if serr := f.Value.Set(v); serr != nil {
			err = usagef("%s=%q (for --%s): %v", names[0], v, f.Name, serr)
		}
	})
	return err
}

// noArgs refuses positional arguments, naming a mistyped subcommand.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if cmd.HasSubCommands() {
		return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	return usagef("%s takes no arguments (got %q)", name(cmd), strings.Join(args, " "))
}

// exactArgs wants exactly the named positional arguments.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == len(names) {
			return nil
		}
		return usagef("%s needs %s (got %d arguments)", name(cmd), strings.Join(names, " "), len(args))
	}
}

// name is a command's path without "dirsync" ("config import").
func name(cmd *cobra.Command) string {
	if !cmd.HasParent() {
		return cmd.Name()
	}
	return strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
}

// group is a command that only holds subcommands: alone it is a usage error
// naming them.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var names []string
			for _, s := range cmd.Commands() {
				names = append(names, s.Name())
			}
			return usagef("%s needs a subcommand: %s", name(cmd), strings.Join(names, " or "))
		},
	}
	g.AddCommand(subs...)
	return g
}

// usageError is a wrong command line; it exits 2 with a pointer to help.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// exitError carries a specific exit code; a nil err prints nothing.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// exit prints err and maps it to the README's exit codes.
func (e *env) exit(cmd *cobra.Command, err error) int {
	if err == nil {
		return exitOK
	}
	var ue *usageError
	var xe *exitError
	var fe config.FieldErrors
	code := exitFailed
	switch {
	case errors.As(err, &ue):
		code = exitUsage
	case errors.As(err, &xe):
		code = xe.code
	case errors.As(err, &fe), errors.Is(err, dsync.ErrNoSettings):
		code = exitBadConf
	case errors.Is(err, dsync.ErrLocked):
		code = exitLocked
		err = errors.New("a sync is already running for this profile; try again when it has finished")
	case !e.started:
		// Cobra's own refusals (an unknown command, a bad flag value).
		code = exitUsage
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintf(e.stderr, "dirsync: %s\n", termSafeLines(msg))
	}
	if code == exitUsage && err.Error() != "" {
		help := "dirsync help"
		if cmd != nil && cmd.HasParent() {
			help += " " + name(cmd)
		}
		fmt.Fprintf(e.stderr, "Run '%s' for usage.\n", help)
	}
	return code
}

// closeStore closes the database, warning on stderr when that fails
// (the command's work is done by then; its exit code stands).
func (e *env) closeStore(st *store.Store) {
	if err := st.Close(); err != nil {
		fmt.Fprintf(e.stderr, "warning: %v\n", err)
	}
}

// open opens the database. Commands that only read or need saved state
// pass mustExist: a missing database or key is then an error naming the
// path, never a new empty database.
func (e *env) open(mustExist bool) (*store.Store, error) {
	st, err := store.Open(e.ctx, e.dbPath, store.Options{
		KeyFile:   e.keyFile,
		MustExist: mustExist,
		Logger:    slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	switch {
	case errors.Is(err, store.ErrNoDatabase):
		return nil, fmt.Errorf("%w: check --db (or DIRSYNC_DB); 'dirsync config import' or 'dirsync serve' creates a database", err)
	case err != nil:
		return nil, fmt.Errorf("open the database %s: %w", e.dbPath, err)
	}
	return st, nil
}
