package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/dirsync/dirsync/internal/alert"
	"github.com/dirsync/dirsync/internal/bdc"
	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
)

func (e *env) engine(st *store.Store) *dsync.Engine {
	eng := dsync.New(st, version)
	eng.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return eng
}

func (e *env) configCmd() *cobra.Command {
	var from fromBDC
	imp := &cobra.Command{
		Use:   "import FILE|-",
		Short: "Validate and save settings from a JSON file (- reads stdin), or from Directory Connector's data.json",
		Long: `Validate and save settings from a JSON file (- reads stdin).

Every field is checked and nothing is stored if any is wrong; each message
names the field and what to do. A secret given as "[REDACTED]" (as
'config export' prints it) or left out keeps the stored one.

With --from-bdc PATH, the settings come from Bitwarden Directory
Connector's data.json instead (its Okta or LDAP / Active Directory
configuration, sync options, server and organization), converted and then
checked like any import. It prints what it took and what it left out.
Directory Connector keeps secrets in the OS keychain unless
BITWARDENCLI_CONNECTOR_PLAINTEXT_SECRETS was set; those it cannot read are
asked for on a terminal, or given with the flags below (better: their
environment twins, which no other user sees in the process list).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if from.path != "" {
				return noArgs(cmd, args)
			}
			return exactArgs("FILE (or - for stdin)")(cmd, args)
		},
		RunE: func(_ *cobra.Command, args []string) error {
			if from.path != "" {
				return e.configImportBDC(&from)
			}
			return e.configImport(args[0])
		},
	}
	f := imp.Flags()
	f.StringVar(&from.path, "from-bdc", "", "read Directory Connector's data.json (see the README, \"Moving from BDC\")")
	from.secrets = map[string]*string{}
	for _, sec := range bdc.Secrets() {
		v := new(string)
		from.secrets[sec.Path] = v
		f.StringVar(v, strings.TrimPrefix(sec.Flag, "--"), "", "with --from-bdc: "+sec.Name+", when data.json does not hold it")
	}
	exp := &cobra.Command{
		Use:   "export",
		Short: "Print the settings as JSON, secrets shown as [REDACTED]",
		Args:  noArgs,
		RunE:  func(*cobra.Command, []string) error { return e.configExport() },
	}
	return group("config", "Import or export the settings", imp, exp)
}

func (e *env) configImport(file string) error {
	var r io.Reader
	if file == "-" {
		r = e.stdin
	} else {
		f, err := os.Open(file) //nolint:gosec // G304: the user names the file to import
		if err != nil {
			return &exitError{code: exitBadConf, err: fmt.Errorf("read settings: %w", err)}
		}
		defer func() { _ = f.Close() }() // only read
		r = f
	}
	return e.importSettings(r)
}

// importSettings is the one path every import takes: parse, carry the
// kept secrets, validate everything, save.
func (e *env) importSettings(r io.Reader) error {
	s, keep, err := config.ParseFileKeep(r)
	if err != nil {
		return &exitError{code: exitBadConf, err: fmt.Errorf("%w\nnothing was saved", err)}
	}
	st, err := e.open(false)
	if err != nil {
		return err
	}
	defer e.closeStore(st)
	if keep.Any() {
		saved, err := st.LoadSettings(e.ctx, store.DefaultProfile)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if fe := config.CarrySecrets(saved, &s, keep.Has); fe != nil {
			return &exitError{code: exitBadConf, err: fmt.Errorf("%w\nnothing was saved", fe)}
		}
	}
	if err := s.Validate(true); err != nil {
		return &exitError{code: exitBadConf, err: fmt.Errorf("%w\nnothing was saved", err)}
	}
	ch, err := st.SaveSettings(e.ctx, store.DefaultProfile, s)
	if err != nil {
		return err
	}
	msg := "settings saved"
	if len(ch.Fields) > 0 {
		msg += " (changed: " + strings.Join(ch.Fields, ", ") + ")"
	} else {
		msg += " (no changes)"
	}
	if ch.CacheCleared {
		msg += "; the sync cache was cleared because the directory or organization changed"
	}
	detail := "no changes"
	if len(ch.Fields) > 0 {
		detail = "changed: " + strings.Join(ch.Fields, ", ")
	}
	e.audit(st, "settings.imported", detail)
	fmt.Fprintln(e.stderr, msg)
	return nil
}

func (e *env) configExport() error {
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
	return config.WriteFile(e.stdout, s)
}

// testUser and testGroup are the exact JSON shape of `dirsync test --json`.
type testUser struct {
	ExternalID string `json:"externalId"`
	Email      string `json:"email"`
	Disabled   bool   `json:"disabled"`
	Deleted    bool   `json:"deleted"`
}

type testGroup struct {
	ExternalID        string   `json:"externalId"`
	Name              string   `json:"name"`
	MemberExternalIDs []string `json:"memberExternalIds"`
}

func (e *env) testCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "test",
		Short: "Read the directory and show what a sync would send and change (nothing is sent)",
		Long: `Read the directory and show what a sync would send and, read from Bitwarden with
the same key, what it would change there. Nothing is sent or recorded.`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error { return e.test(asJSON) },
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"users":[…],"groups":[…]} as JSON`)
	return cmd
}

func (e *env) test(asJSON bool) error {
	st, err := e.open(true)
	if err != nil {
		return err
	}
	defer e.closeStore(st)
	res, err := e.engine(st).Run(e.ctx, store.DefaultProfile, dsync.Options{Trigger: dsync.TriggerTest, Mode: dsync.ModeTest})
	if err != nil {
		return err
	}
	p := res.Plan
	if asJSON {
		out := struct {
			Users  []testUser  `json:"users"`
			Groups []testGroup `json:"groups"`
		}{Users: make([]testUser, 0, len(p.Users)), Groups: make([]testGroup, 0, len(p.Groups))}
		for _, u := range p.Users {
			out.Users = append(out.Users, testUser{ExternalID: u.ID, Email: u.Email, Disabled: u.Disabled, Deleted: u.Deleted})
		}
		for _, g := range p.Groups {
			out.Groups = append(out.Groups, testGroup{ExternalID: g.ID, Name: g.Name, MemberExternalIDs: g.MemberIDs})
		}
		for _, w := range p.Warnings {
			fmt.Fprintln(e.stderr, "warning:", termSafe(w))
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "Users: %d (%d deleted, %d disabled in the directory, %d left out)\n", p.Counts.Users, p.Counts.Deleted, p.Counts.Disabled, p.Counts.Dropped)
	fmt.Fprintf(w, "Groups: %d with %d memberships\n", p.Counts.Groups, p.Counts.Memberships)
	fmt.Fprintf(w, "Directory requests: %d\n", res.Stats.Requests)
	switch d := res.Bitwarden; {
	case d != nil:
		n := d.Counts
		fmt.Fprintf(w, "In Bitwarden: %d to invite, %d to remove, %d to link by email, %d groups to create, %d to rename, memberships +%d/-%d\n",
			n.Invites, n.Removals, n.Links, n.GroupsCreated, n.GroupsRenamed, n.MembershipsAdded, n.MembershipsRemoved)
		for _, r := range d.Removals {
			fmt.Fprintf(w, "  would remove %s (%s, %s)\n", termSafe(r.Email), termSafe(r.ExternalID), termSafe(r.Reason))
		}
		if d.Truncated && len(d.Removals) < n.Removals {
			fmt.Fprintf(w, "  … and %d more removals\n", n.Removals-len(d.Removals))
		}
		printServerFacts(w, d)
	case res.BitwardenError != "":
		fmt.Fprintf(w, "In Bitwarden: not known, the organization could not be read: %s\n", termSafe(res.BitwardenError))
	}
	fmt.Fprintln(w)
	if len(p.Users) > 0 {
		fmt.Fprintln(w, "EXTERNAL ID\tEMAIL\tSTATUS")
		for _, u := range p.Users {
			fmt.Fprintf(w, "%s\t%s\t%s\n", termSafe(u.ID), termSafe(u.Email), userStatus(u.Deleted, u.Disabled))
		}
		fmt.Fprintln(w)
	}
	if len(p.Groups) > 0 {
		fmt.Fprintln(w, "EXTERNAL ID\tGROUP\tMEMBERS")
		for _, g := range p.Groups {
			fmt.Fprintf(w, "%s\t%s\t%d\n", termSafe(g.ID), termSafe(g.Name), len(g.MemberIDs))
		}
		fmt.Fprintln(w)
	}
	for _, warn := range p.Warnings {
		fmt.Fprintf(w, "warning: %s\n", termSafe(warn))
	}
	return w.Flush()
}

func userStatus(deleted, disabled bool) string {
	switch {
	case deleted:
		return "deleted"
	case disabled:
		return "disabled"
	}
	return "enabled"
}

// syncOpts are the flags of `dirsync sync`.
type syncOpts struct {
	asJSON, dryRun   bool
	approve, discard int64
	// approveSet and discardSet say whether the flag was given at all, so
	// that --approve 0 is an error rather than "no approval".
	approveSet, discardSet bool
}

func (e *env) syncCmd() *cobra.Command {
	var o syncOpts
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Run one sync now",
		Long: `Run one sync now: read the directory, build the import and push it to Bitwarden.
Exit 0 on success, "unchanged" or a dry run; 4 when the deletion guard
holds the run (approve it with --approve RUN_ID or discard it with
--discard RUN_ID).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.approveSet, o.discardSet = cmd.Flags().Changed("approve"), cmd.Flags().Changed("discard")
			return e.sync(o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.asJSON, "json", false, "print the run record as JSON")
	f.BoolVar(&o.dryRun, "dry-run", false, "do everything but send the import (recorded in history)")
	f.Int64Var(&o.approve, "approve", 0, "approve the held run `RUN_ID`: push it if the directory is unchanged, else hold the new plan (exit 4)")
	f.Int64Var(&o.discard, "discard", 0, "discard the held run `RUN_ID`")
	return cmd
}

func (e *env) sync(o syncOpts) error {
	if n := btoi(o.dryRun) + btoi(o.approve != 0) + btoi(o.discard != 0); n > 1 {
		return usagef("sync: use only one of --dry-run, --approve and --discard")
	}
	if o.approve < 0 || o.discard < 0 || (o.approveSet && o.approve == 0) || (o.discardSet && o.discard == 0) {
		return usagef("sync: a run id is a positive number, as `dirsync history` lists it (the held run's id is in its message)")
	}
	st, err := e.open(true)
	if err != nil {
		return err
	}
	defer e.closeStore(st)
	eng, wait := e.engineWithAlerts(st)
	defer wait()
	actor := cliActor()
	if o.discard != 0 {
		err := eng.Discard(e.ctx, store.DefaultProfile, o.discard, actor)
		if err != nil {
			return heldError(err)
		}
		e.audit(st, "run.discarded", fmt.Sprintf("run %d", o.discard))
		fmt.Fprintf(e.stderr, "run %d discarded; nothing was sent\n", o.discard)
		return nil
	}
	var res *dsync.Result
	switch {
	case o.approve != 0:
		res, err = eng.Approve(e.ctx, store.DefaultProfile, o.approve, actor)
		if res == nil {
			return heldError(err)
		}
		if detail := dsync.ApprovalAudit(o.approve, res, err); detail != "" {
			e.audit(st, "run.approved", detail)
		}
	default:
		mode := dsync.ModeSync
		if o.dryRun {
			mode = dsync.ModeDryRun
		}
		res, err = eng.Run(e.ctx, store.DefaultProfile, dsync.Options{Trigger: dsync.TriggerCLI, Mode: mode})
	}
	if errors.Is(err, dsync.ErrLocked) {
		return &exitError{code: exitLocked, err: errors.New("a sync is already running for this profile; try again when it has finished")}
	}
	if o.asJSON && res.Run.ID != 0 {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if eerr := enc.Encode(res.Run); eerr != nil && err == nil {
			err = eerr
		}
	} else if err == nil {
		printRun(e.stdout, res.Run)
	}
	if err != nil {
		return err
	}
	if res.Run.Status == dsync.StatusHeld {
		if o.approve != 0 {
			return &exitError{code: exitHeld, err: fmt.Errorf("run %d was not pushed; the new plan is held as run %d: %s", o.approve, res.Run.ID, res.Run.Error)}
		}
		return &exitError{code: exitHeld, err: fmt.Errorf("run %d is held for approval, nothing was sent: it %s", res.Run.ID, res.Run.Error)}
	}
	if o.approve != 0 {
		fmt.Fprintln(e.stderr, dsync.ApprovalOutcome(o.approve, res))
	}
	return nil
}

// heldError turns an Approve or Discard refusal into an exit error.
func heldError(err error) error {
	switch {
	case errors.Is(err, dsync.ErrLocked):
		return &exitError{code: exitLocked, err: errors.New("a sync is already running for this profile; try again when it has finished")}
	case errors.Is(err, dsync.ErrNotHeld):
		return &exitError{code: exitFailed, err: err}
	}
	return err
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// cliActor names who approves from the command line (in the run's
// warnings): "cli (os user alice@host)".
func cliActor() string {
	return store.CLIActor + " (" + store.OSUser() + ")"
}

// engineWithAlerts is engine plus the alert webhooks; wait gives pending
// alerts a bounded time to go out before the process exits.
func (e *env) engineWithAlerts(st *store.Store) (*dsync.Engine, func()) {
	eng := e.engine(st)
	n := alert.New(st, os.Getenv("DIRSYNC_PUBLIC_URL"), eng.Logger)
	eng.OnFinish = append(eng.OnFinish, n.OnFinish)
	return eng, func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), 45*time.Second)
		defer cancel()
		_ = n.Wait(ctx)
	}
}

func printRun(w io.Writer, r store.Run) {
	c := r.Counts
	fmt.Fprintf(w, "run %d: %s (%s)\n", r.ID, r.Status, r.Trigger)
	fmt.Fprintf(w, "  members %d (+%d deleted), groups %d, memberships %d, batches %d, directory requests %d\n",
		c.Members, c.Deleted, c.Groups, c.Memberships, c.Batches, c.DirectoryRequests)
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", termSafe(warn))
	}
	if r.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", termSafe(r.Error))
	}
}

func (e *env) cacheCmd() *cobra.Command {
	clear := &cobra.Command{
		Use:   "clear",
		Short: "Forget the last push: the next sync reads every group and sends everything",
		Args:  noArgs,
		RunE:  func(*cobra.Command, []string) error { return e.cacheClear() },
	}
	return group("cache", "Manage the sync cache", clear)
}

func (e *env) cacheClear() error {
	st, err := e.open(true)
	if err != nil {
		return err
	}
	defer e.closeStore(st)
	if err := st.ClearCache(e.ctx, store.DefaultProfile); err != nil {
		if errors.Is(err, store.ErrLocked) {
			// The run would save its state afterwards and undo the clear.
			return &exitError{code: exitLocked, err: errors.New("a sync is running; nothing was cleared. Clear the cache after it has ended")}
		}
		return err
	}
	e.audit(st, "cache.cleared", "")
	fmt.Fprintln(e.stderr, "sync cache cleared: the next sync reads every group and sends the full import")
	return nil
}

func (e *env) historyCmd() *cobra.Command {
	var asJSON bool
	var limit int
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List recent runs (scheduled, console and CLI)",
		Args:  noArgs,
		RunE:  func(*cobra.Command, []string) error { return e.history(asJSON, limit) },
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the run records as JSON")
	cmd.Flags().IntVar(&limit, "limit", 20, "how many runs, 1 to 10000")
	return cmd
}

func (e *env) history(asJSON bool, limit int) error {
	if limit < 1 || limit > 10000 {
		return usagef("--limit must be between 1 and 10000 (got %d)", limit)
	}
	st, err := e.open(true)
	if err != nil {
		return err
	}
	defer e.closeStore(st)
	runs, total, err := st.ListRuns(e.ctx, store.DefaultProfile, limit, 0)
	if err != nil {
		return err
	}
	if asJSON {
		if runs == nil {
			runs = []store.Run{}
		}
		for i := range runs {
			if runs[i].Warnings == nil {
				runs[i].Warnings = []string{}
			}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(runs)
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "ID\tSTARTED\tTRIGGER\tSTATUS\tDURATION\tMEMBERS\tGROUPS\tERROR\n")
	for _, r := range runs {
		dur := "-"
		if r.FinishedAt != nil {
			dur = r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond).String()
		}
		errText := r.Error
		if len(errText) > 60 {
			errText = errText[:57] + "..."
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", r.ID, r.StartedAt.Local().Format("2006-01-02 15:04:05"), r.Trigger, r.Status, dur, r.Counts.Members, r.Counts.Groups, termSafe(errText))
	}
	fmt.Fprintf(w, "(%d of %d runs)\n", len(runs), total)
	return w.Flush()
}

func (e *env) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(e.stdout, "dirsync %s\n", version)
			return err
		},
	}
}

// printServerFacts adds what the console's Bitwarden facts show: the
// prediction's basis, staged members, seats, the members sync cannot
// remove and the re-created accounts.
func printServerFacts(w io.Writer, d *dsync.OrgDiff) {
	switch d.Basis {
	case dsync.BasisLastPush:
		fmt.Fprintln(w, "  (this server does not list members — Vaultwarden? predicted from the last push and Vaultwarden's rules)")
	case dsync.BasisNone:
		fmt.Fprintln(w, "  (this server does not list members — Vaultwarden? nothing pushed yet, so its members are unknown)")
	}
	if d.Staged {
		fmt.Fprintln(w, "  new members are added as Staged, without an invitation (sync.inviteUsers is off)")
	}
	if s := d.Seats; s != nil {
		switch {
		case s.Refused != "":
			fmt.Fprintf(w, "  seats: %s\n", termSafe(s.Refused))
		case s.Needed > 0:
			fmt.Fprintf(w, "  seats: %d in use of %d; Bitwarden cloud buys %d more\n", s.InUse, s.Seats, s.Buys)
		default:
			fmt.Fprintf(w, "  seats: %d in use of %d\n", s.InUse, s.Seats)
		}
	}
	for _, m := range d.CannotRemove {
		fmt.Fprintf(w, "  cannot remove %s (no master password): remove them in Bitwarden, or they stay\n", termSafe(m.Email))
	}
	for _, r := range d.Relinks {
		fmt.Fprintf(w, "  re-created account %s: %s → %s\n", termSafe(r.Email), termSafe(r.From), termSafe(r.To))
	}
}
