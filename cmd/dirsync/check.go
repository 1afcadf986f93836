package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory"
	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
)

// checkTimeout bounds each connection check, as the console's does.
const checkTimeout = 20 * time.Second

func (e *env) checkCmd() *cobra.Command {
	var only string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check the saved connections: sign in to the directory and to Bitwarden, count, change nothing",
		Long: `Check the saved settings' connections, as the console's "Check connection"
buttons do: sign in to the directory (count its users and groups, show a
sample user) and to Bitwarden (count the organization's members, groups
and seats). Nothing is read in full, nothing is sent or recorded. Exit 0
when every check passed, 1 when one failed, 5 when no settings are saved.`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error { return e.check(only) },
	}
	cmd.Flags().StringVar(&only, "only", "", `check only "directory" or "bitwarden"`)
	return cmd
}

func (e *env) check(only string) error {
	if only != "" && only != "directory" && only != "bitwarden" {
		return usagef(`--only takes "directory" or "bitwarden", not %q`, only)
	}
	st, err := e.open(true)
	if err != nil {
		return err
	}
	defer e.closeStore(st)
	s, err := st.LoadSettings(e.ctx, store.DefaultProfile)
	if errors.Is(err, store.ErrNotFound) {
		return &exitError{code: exitBadConf, err: dsync.ErrNoSettings}
	}
	if err != nil {
		return err
	}
	eng := e.engine(st)
	checks := []struct {
		name, title string
		run         func(context.Context, config.Settings) (*directory.CheckResult, error)
		explain     func(config.Settings, error) *directory.Explanation
	}{
		{"directory", "Directory", eng.CheckDirectory, dsync.ExplainDirectory},
		{"bitwarden", "Bitwarden", eng.CheckBitwarden, dsync.ExplainBitwarden},
	}
	if k, ok := s.Directory.Kind(); ok {
		checks[0].title = "Directory (" + k.Title + ")"
	}
	failed := 0
	for _, c := range checks {
		if only != "" && c.name != only {
			continue
		}
		ctx, cancel := context.WithTimeout(e.ctx, checkTimeout)
		res, err := c.run(ctx, s)
		cancel()
		if err != nil {
			failed++
			printCheckError(e.stdout, c.title, config.Redact(err.Error(), s.SecretValues()...), c.explain(s, err))
			continue
		}
		printCheck(e.stdout, c.title, res)
	}
	if failed > 0 {
		return &exitError{code: exitFailed, err: fmt.Errorf("%d of the checks failed", failed)}
	}
	return nil
}

func printCheck(w io.Writer, title string, res *directory.CheckResult) {
	fmt.Fprintf(w, "%s: ok. %s\n", title, termSafe(res.Summary))
	for _, f := range res.Facts {
		fmt.Fprintf(w, "  %s: %s\n", termSafe(f.Label), termSafe(f.Value))
	}
	for _, warn := range res.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", termSafe(warn))
	}
}

func printCheckError(w io.Writer, title, detail string, ex *directory.Explanation) {
	summary := "the check failed."
	if ex != nil && ex.Summary != "" {
		summary = ex.Summary
	}
	fmt.Fprintf(w, "%s: FAILED. %s\n", title, termSafe(summary))
	fmt.Fprintf(w, "  error: %s\n", termSafe(strings.TrimSpace(detail)))
	if ex != nil {
		for _, h := range ex.Hints {
			fmt.Fprintf(w, "  check: %s\n", termSafe(h))
		}
	}
}
