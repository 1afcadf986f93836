// Package sync is the engine: read the directory, filter, plan the import,
// push it to Bitwarden and record the run. The scheduler, the console's
// buttons and the CLI all call Engine.Run; only the options differ.
package sync

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/dirsync/dirsync/internal/bitwarden"
	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory"
	"github.com/dirsync/dirsync/internal/logctx"
	"github.com/dirsync/dirsync/internal/store"
)

// Run triggers.
const (
	TriggerSchedule = "schedule"
	TriggerManual   = "manual"
	TriggerCLI      = "cli"
	TriggerTest     = "test"
	TriggerApproval = "approval"
)

// Run statuses (the store's, re-exported for callers of the engine).
const (
	StatusRunning     = store.StatusRunning
	StatusSuccess     = store.StatusSuccess
	StatusUnchanged   = store.StatusUnchanged
	StatusFailed      = store.StatusFailed
	StatusHeld        = store.StatusHeld
	StatusDryRun      = store.StatusDryRun
	StatusInterrupted = store.StatusInterrupted
	StatusDiscarded   = store.StatusDiscarded
	StatusApproved    = store.StatusApproved
)

// Mode says how far a run goes.
type Mode int

// The modes: a sync pushes; a dry run stops before the push but is recorded;
// a test (preview) stops after the plan and records nothing.
const (
	ModeSync Mode = iota
	ModeDryRun
	ModeTest
)

// Store is what the engine needs from the store.
type Store interface {
	LoadSettings(ctx context.Context, profileID int64) (config.Settings, error)
	GetSyncState(ctx context.Context, profileID int64) (store.SyncState, error)
	SaveSyncState(ctx context.Context, st store.SyncState) error
	ClearCache(ctx context.Context, profileID int64) error
	LoadMemberCache(ctx context.Context, profileID int64) (map[string]store.CachedGroup, error)
	ReplaceMemberCache(ctx context.Context, profileID int64, groups []store.CachedGroup) error
	GetDeltaState(ctx context.Context, profileID int64) (store.DeltaState, error)
	LoadUserCache(ctx context.Context, profileID int64) ([]store.CachedUser, error)
	UpdateUserCache(ctx context.Context, profileID int64, u store.UserCacheUpdate) error
	InvalidateUserCache(ctx context.Context, profileID int64) error
	SetPushPending(ctx context.Context, profileID, runID int64, pending bool) error
	LastBody(ctx context.Context, profileID int64) ([]byte, error)
	CreateRun(ctx context.Context, r *store.Run) error
	FinishRun(ctx context.Context, r *store.Run) error
	AcquireRunLock(ctx context.Context, profileID int64, holder string, ttl time.Duration) (*store.RunLock, error)
	MarkInterruptedRuns(ctx context.Context, profileID int64, holderAlive func(holder string) bool) (int, error)
	GetRun(ctx context.Context, id int64) (store.Run, error)
	LatestHeldRun(ctx context.Context, profileID int64) (store.Run, error)
	TransitionRun(ctx context.Context, id int64, from, to, note string) error
	DiscardHeldRuns(ctx context.Context, profileID, exceptID int64, note string) (int, error)
}

// Pusher sends an import to Bitwarden and lists the organization's
// members and groups (to predict what an import changes).
type Pusher interface {
	Import(ctx context.Context, req *bitwarden.ImportRequest) error
	ListMembers(ctx context.Context) ([]bitwarden.Member, error)
	ListGroups(ctx context.Context) ([]bitwarden.Group, error)
}

// Engine runs syncs. It is safe for concurrent use; one run at a time per
// profile is enforced by the store's cross-process lock.
type Engine struct {
	store Store
	// NewSource builds the directory source for settings (default: Okta).
	NewSource func(config.Settings) (directory.Source, error)
	// NewPusher builds the Bitwarden client for settings.
	NewPusher func(config.Settings) (Pusher, error)
	// Logger gets one line per phase, each with the run id.
	Logger *slog.Logger
	// Now is the clock.
	Now func() time.Time
	// Holder names this process in the run lock.
	Holder string
	// LockTTL is the run lock's lease; the lock refreshes it during a run.
	LockTTL time.Duration
	// FullReadEvery, when set, overrides the settings' okta.fullReadHours:
	// a read without the membership cache happens at least this often.
	FullReadEvery time.Duration
	// CacheSettle keeps groups whose membership changed this recently out
	// of the membership cache, so they are read again next time. Okta's
	// timestamps may be whole seconds: a second change within the same
	// second as a cached one would not move lastMembershipUpdated.
	// Default 5 minutes.
	CacheSettle time.Duration
	// DeltaMargin is how far before the latest lastUpdated of the kept
	// user list a delta read starts (see delta.go). Default 1 minute.
	DeltaMargin time.Duration
	// Version goes into the User-Agent.
	Version string
	// Timeout, when set, overrides the settings' sync.timeoutMinutes (for
	// tests): a run past it is stopped and fails with nothing pushed.
	Timeout time.Duration
	// OnFinish are called, in order, after every recorded run is stored
	// (not after a test). They run on the run's goroutine: anything slow
	// (a webhook) must be handed to a goroutine of its own.
	OnFinish []func(context.Context, *Result)
	// DirectoryObserver and BitwardenObserver, when set, see every
	// request of the default directory source and Bitwarden client
	// (metrics).
	DirectoryObserver func(directory.RequestEvent)
	BitwardenObserver func(bitwarden.RequestEvent)

	hub hub
}

// New returns an engine over st with the chosen directory type's source
// (Settings.Open) and the Bitwarden client.
func New(st Store, version string) *Engine {
	e := &Engine{
		store:       st,
		Logger:      slog.New(slog.DiscardHandler),
		Now:         time.Now,
		Holder:      defaultHolder(),
		LockTTL:     2 * time.Minute,
		CacheSettle: 5 * time.Minute,
		DeltaMargin: DefaultDeltaMargin,
		Version:     version,
	}
	e.NewSource = func(s config.Settings) (directory.Source, error) {
		cur := s.Directory.Current()
		if cur == nil {
			return nil, fmt.Errorf("unsupported directory type %q", s.Directory.Type)
		}
		return cur.Open(e.DirectoryEnv(s))
	}
	e.NewPusher = func(s config.Settings) (Pusher, error) {
		return bitwarden.New(bitwarden.Config{
			ImportTimeout: time.Duration(s.Bitwarden.ImportTimeoutSeconds) * time.Second,
			Server:        s.Bitwarden.Server,
			ClientID:      s.Bitwarden.ClientID,
			ClientSecret:  s.Bitwarden.ClientSecret.Reveal(),
			UserAgent:     "dirsync/" + e.Version,
			Observer:      e.BitwardenObserver,
			Redact:        s.SecretValues(),
		})
	}
	return e
}

// DirectoryEnv is what the engine gives a directory source or check of
// settings s: its user agent, logger, the profile's secrets to scrub from
// errors, and the metrics observer.
func (e *Engine) DirectoryEnv(s config.Settings) directory.Env {
	return directory.Env{UserAgent: "dirsync/" + e.Version, Logger: e.Logger, Redact: s.SecretValues(), Observer: e.DirectoryObserver}
}

func defaultHolder() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// Options are one run's options.
type Options struct {
	Trigger string
	Mode    Mode
	// Settings, when set, replaces the saved settings (a preview of unsaved
	// form values). Secrets left empty are taken from the saved settings
	// when they would go to the same host (config.CarrySecrets); otherwise
	// the run fails naming the secret to enter again.
	Settings *config.Settings
	// Progress receives this run's events (besides the engine's subscribers).
	Progress func(Event)
	// FullRead skips the membership cache and the user cache (and so
	// makes the push a full one).
	FullRead bool
}

// Result is a finished run.
type Result struct {
	// Run is the record as stored (ID 0 for a test, which is not stored).
	Run     store.Run
	Plan    *Plan
	Changes *Changes
	Stats   directory.ReadStats
	// Bitwarden is what the push would change (or changed) in the
	// organization, computed from its members and groups before the push.
	// Nil when Bitwarden was not read (nothing to push) or could not be
	// read; then BitwardenError says why, if it failed.
	Bitwarden      *OrgDiff
	BitwardenError string
	// WouldHold is set by a test whose plan the deletion guard would hold
	// in a sync; HoldReason says why, with the limit.
	WouldHold  bool
	HoldReason string
	// Unchanged is set by a test whose import is the one last pushed: a
	// sync would send nothing.
	Unchanged bool
	// Settings are the settings the run used (secrets included: never
	// render them).
	Settings config.Settings
}

// Timings are the phase durations of a run, kept in the run record.
type Timings struct {
	ReadMS int64 `json:"readMs"`
	PlanMS int64 `json:"planMs"`
	// BitwardenMS is the time spent reading the organization.
	BitwardenMS int64 `json:"bitwardenMs,omitempty"`
	PushMS      int64 `json:"pushMs"`
	TotalMS     int64 `json:"totalMs"`
}

// ErrLocked is returned when another run of the profile holds the lock.
var ErrLocked = store.ErrLocked

// ErrNoSettings is returned by a run of a profile that has no settings yet.
// Like a config.FieldErrors, it is a settings problem (the CLI's exit 5).
var ErrNoSettings = errors.New("no settings saved yet: import a settings file (dirsync config import) or fill in Settings in the console")

// Run does one run of profile. The returned error is the run's failure (the
// result still holds the failed run record when one was stored), or
// ErrLocked when another run is going on. A run held by the deletion guard
// returns no error: its status is "held".
func (e *Engine) Run(ctx context.Context, profileID int64, opts Options) (*Result, error) {
	if opts.Mode == ModeTest {
		return e.run(ctx, profileID, opts, nil)
	}
	release, err := e.lock(ctx, profileID)
	if err != nil {
		return &Result{Run: store.Run{ProfileID: profileID, Trigger: opts.Trigger, Warnings: []string{}}}, err
	}
	defer release()
	return e.run(ctx, profileID, opts, nil)
}

// lock takes the profile's run lock and marks runs of dead processes
// interrupted; release gives the lock back.
func (e *Engine) lock(ctx context.Context, profileID int64) (release func(), err error) {
	lock, lerr := e.store.AcquireRunLock(ctx, profileID, e.Holder, e.LockTTL)
	if lerr != nil {
		if errors.Is(lerr, store.ErrLocked) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("sync: take the run lock: %w", lerr)
	}
	// Holding the lease, any run still marked running is a dead one.
	if n, merr := e.store.MarkInterruptedRuns(ctx, profileID, nil); merr == nil && n > 0 {
		e.Logger.Warn("marked runs of a stopped process as interrupted", "profile", profileID, "runs", n)
	}
	// The lock refreshes its own lease until released.
	return func() { _ = lock.Release(context.WithoutCancel(ctx)) }, nil
}

// run does one run; a recorded run's caller holds the run lock. ap is set
// when the run is the approval of a held run.
func (e *Engine) run(ctx context.Context, profileID int64, opts Options, ap *approval) (*Result, error) {
	start := e.Now()
	res := &Result{Run: store.Run{ProfileID: profileID, Trigger: opts.Trigger, Status: StatusRunning, StartedAt: start.UTC(), Warnings: []string{}}}
	if res.Run.Trigger == "" {
		res.Run.Trigger = TriggerCLI
	}
	record := opts.Mode != ModeTest
	log := e.Logger.With("profile", profileID, "trigger", res.Run.Trigger)

	settings, err := e.settings(ctx, profileID, opts.Settings)
	if err != nil && !record {
		return res, err
	}

	if record {
		res.Run.Holder = e.Holder
		if ap != nil {
			res.Run.Warnings = append(res.Run.Warnings, fmt.Sprintf("approval of held run %d by %s", ap.held.ID, ap.actor))
		}
		if cerr := e.store.CreateRun(ctx, &res.Run); cerr != nil {
			return res, fmt.Errorf("sync: record run: %w", cerr)
		}
		log = log.With("run", res.Run.ID)
	}
	// Everything the run calls logs with its id (the Okta client's
	// requests and retries too).
	ctx = logctx.With(ctx, log)
	emit := func(ev Event) {
		ev.RunID = res.Run.ID
		ev.Trigger = res.Run.Trigger
		if ev.At.IsZero() {
			ev.At = e.Now()
		}
		if opts.Progress != nil {
			opts.Progress(ev)
		}
		if record {
			e.hub.publish(ev)
		}
	}
	finish := func(status string, runErr error) (*Result, error) {
		res.Run.Status = status
		if runErr != nil {
			res.Run.Error = runErr.Error()
		}
		end := e.Now()
		res.Run.FinishedAt = ptr(end.UTC())
		var t Timings
		if res.Run.Timings != nil {
			_ = json.Unmarshal(res.Run.Timings, &t)
		}
		t.TotalMS = end.Sub(start).Milliseconds()
		res.Run.Timings, _ = json.Marshal(t)
		if record {
			if ferr := e.store.FinishRun(context.WithoutCancel(ctx), &res.Run); ferr != nil && runErr == nil {
				runErr = fmt.Errorf("sync: record run: %w", ferr)
			}
		}
		emit(Event{Phase: "done", Status: status, Message: finalMessage(status, runErr), Final: true})
		if runErr != nil {
			log.Warn("sync run failed", "status", status, "error", runErr)
		} else {
			log.Info("sync run finished", "status", status, "ms", t.TotalMS)
		}
		if record {
			for _, f := range e.OnFinish {
				f(context.WithoutCancel(ctx), res)
			}
		}
		return res, runErr
	}
	if err != nil {
		return finish(StatusFailed, err)
	}
	res.Settings = settings
	// sync.timeoutMinutes bounds the whole run, so that a read or push
	// that hangs fails (and gives the run lock back) instead of blocking
	// every later sync. finish records with a context that is not
	// cancelled, so the failure is still stored.
	limit := time.Duration(settings.Sync.TimeoutMinutes) * time.Minute
	if e.Timeout > 0 {
		limit = e.Timeout
	}
	pushing := false
	if limit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, limit, errRunTimeout)
		defer cancel()
		inner := finish
		finish = func(status string, runErr error) (*Result, error) {
			if runErr != nil && errors.Is(context.Cause(ctx), errRunTimeout) {
				runErr = timeoutError(limit, pushing, runErr)
			}
			return inner(status, runErr)
		}
	}
	emit(Event{Phase: "start", Message: "Reading the directory"})

	// Read.
	var timings Timings
	state, err := e.store.GetSyncState(ctx, profileID)
	if err != nil {
		return finish(StatusFailed, fmt.Errorf("sync: load sync state: %w", err))
	}
	readStart := e.Now()
	snap, info, commitRead, err := e.read(ctx, profileID, settings, state, opts, emit)
	timings.ReadMS = e.Now().Sub(readStart).Milliseconds()
	res.Run.Timings, _ = json.Marshal(timings)
	if err != nil {
		return finish(StatusFailed, err)
	}

	// Plan.
	planStart := e.Now()
	emit(Event{Phase: "plan", Message: "Building the import"})
	plan, err := BuildPlan(snap, settings)
	var planErr *PlanError
	if errors.As(err, &planErr) && info.usersDelta {
		// A kept user the directory hard-deleted unseen can clash with a
		// re-created account's email: only a full list can tell, so read
		// it before refusing the plan.
		log.Info("the plan failed after a delta read; reading the directory in full", "error", err)
		full := opts
		full.FullRead = true
		snap, info, commitRead, err = e.read(ctx, profileID, settings, state, full, emit)
		if err != nil {
			return finish(StatusFailed, err)
		}
		plan, err = BuildPlan(snap, settings)
	}
	res.Stats = snap.Stats
	res.Run.Counts.DirectoryRequests += snap.Stats.Requests
	res.Run.Counts.UsersRead, res.Run.Counts.FullRead = info.usersRead, info.full
	res.Run.Warnings = append(res.Run.Warnings, snap.Warnings...)
	if err != nil {
		return finish(StatusFailed, err)
	}
	res.Plan = plan
	res.Run.Hash = plan.Hash
	res.Run.Warnings = append(res.Run.Warnings, plan.Warnings...)
	c := &res.Run.Counts
	c.Users, c.Deleted, c.Disabled = plan.Counts.Users, plan.Counts.Deleted, plan.Counts.Disabled
	c.Members = plan.Counts.Users - plan.Counts.Deleted
	c.Groups, c.Memberships, c.Dropped = plan.Counts.Groups, plan.Counts.Memberships, plan.Counts.Dropped
	c.Batches = len(plan.Batches)
	if opts.Mode != ModeTest {
		// Only a preview shows the user and group lists; a sync needs the
		// import alone, so let the lists go before Bitwarden is read.
		plan.Users, plan.Groups = nil, nil
	}
	unchanged := state.Hash != "" && state.Hash == plan.Hash
	var prev *bitwarden.ImportRequest
	if unchanged {
		// Nothing to compare: do not decode the previous import.
		res.Changes = NoChanges()
	} else {
		body, err := e.store.LastBody(ctx, profileID)
		if err == nil {
			prev, err = decompressImport(body)
		}
		if err != nil {
			res.Run.Warnings = append(res.Run.Warnings, "the previous push could not be read; changes are shown against nothing: "+err.Error())
			prev = nil
		}
		res.Changes = Diff(prev, plan.Import)
	}
	// Delta push: with overwrite off, send only what changed since the
	// last push (see delta.go); the plan's Import stays the whole state.
	deltaBase := ""
	if !unchanged && !plan.SkipPush {
		c.FullPush = true
		if deltaPush(settings, info, prev) {
			plan.Batches = batches(DeltaImport(prev, plan.Import))
			if d := plan.Batches[0]; len(plan.Batches) == 1 && len(d.Members) == 0 && len(d.Groups) == 0 {
				plan.Batches = nil // nothing Bitwarden would act on (e.g. a group gone from Okta)
			}
			c.FullPush = false
			deltaBase = state.Hash
		}
		c.Batches = len(plan.Batches)
		for _, b := range plan.Batches {
			c.PushedMembers += len(b.Members)
			c.PushedGroups += len(b.Groups)
		}
	}
	setChanges := func() {
		res.Run.Changes, _ = json.Marshal(res.Changes)
		c.GroupsChanged = res.Changes.Counts.GroupsChanged
		c.MembershipsAdded = res.Changes.Counts.MembershipsAdded
		c.MembershipsRemoved = res.Changes.Counts.MembershipsRemoved
		if d := res.Bitwarden; d != nil {
			c.Invites, c.Removals = d.Counts.Invites, d.Counts.Removals
		}
	}
	setChanges()
	timings.PlanMS = e.Now().Sub(planStart).Milliseconds()
	res.Run.Timings, _ = json.Marshal(timings)
	// A read that may be short is held (below) and never feeds the caches
	// or the shrink baseline; accept lets a whole read feed them.
	readWhy := readHold(settings, state, snap, plan)
	accept := func() error { return commitRead(context.WithoutCancel(ctx)) }

	if opts.Mode == ModeTest {
		if readWhy != "" {
			res.Run.Warnings = append(res.Run.Warnings, "a sync would be held for approval: "+readWhy)
		}
		if !plan.SkipPush {
			emit(Event{Phase: "bitwarden", Message: "Reading the Bitwarden organization"})
			if pr, berr := e.predictPush(ctx, profileID, settings, nil, plan); berr != nil {
				res.BitwardenError = berr.Error()
			} else {
				res.Bitwarden = pr.diff
				res.Changes.Bitwarden = pr.diff
				res.Run.Warnings = append(res.Run.Warnings, pr.notes...)
				setChanges()
				// The verdict the Test page leads with: would a sync
				// now be held by the deletion guard?
				res.WouldHold, res.HoldReason = e.guard(settings, plan, pr.diff)
				if msg := unverifiable(settings, pr.diff); msg != "" && !res.WouldHold && settingsGuardOn(settings) {
					res.WouldHold, res.HoldReason = true, msg
				}
			}
		}
		if readWhy != "" && !plan.SkipPush && !unchanged {
			// A doubtful read is held whatever Bitwarden holds.
			res.WouldHold, res.HoldReason = true, joinReasons(readWhy, res.HoldReason)
		}
		res.Unchanged = unchanged
		res.Run.Status = StatusDryRun
		return res, nil
	}
	if plan.SkipPush {
		res.Run.Warnings = append(res.Run.Warnings, "the directory returned no users or groups for these settings; nothing was sent (check the filters)")
		if readWhy != "" {
			res.Run.Warnings = append(res.Run.Warnings, "the read may be incomplete: "+readWhy)
		}
		if ap != nil {
			e.supersede(ctx, ap, res, "the directory changed and there is nothing to send any more")
		}
		return finish(StatusUnchanged, nil)
	}
	if unchanged && readWhy != "" {
		// Bitwarden already has this import, so nothing is at risk; but the
		// read is doubtful, so it feeds no cache and no baseline.
		res.Run.Warnings = append(res.Run.Warnings, "the read may be incomplete: "+readWhy)
		if ap != nil {
			e.supersede(ctx, ap, res, "the directory changed and Bitwarden already has what it lists")
		}
		if opts.Mode == ModeDryRun {
			return finish(StatusDryRun, nil)
		}
		return finish(StatusUnchanged, nil)
	}
	if unchanged && opts.Mode == ModeSync {
		if err := accept(); err != nil {
			return finish(StatusFailed, err)
		}
		if err := e.touchState(context.WithoutCancel(ctx), profileID, func(st *store.SyncState, _ *time.Time) {
			setBaseline(st, settings, plan)
		}); err != nil {
			return finish(StatusFailed, fmt.Errorf("sync: save sync state: %w", err))
		}
		if ap != nil {
			e.supersede(ctx, ap, res, "the directory changed and Bitwarden already has what it lists")
		}
		return finish(StatusUnchanged, nil)
	}

	if opts.Mode == ModeDryRun && unchanged {
		if err := accept(); err != nil {
			return finish(StatusFailed, err)
		}
		return finish(StatusDryRun, nil) // nothing would be pushed
	}

	// What the push would change in Bitwarden: the guard needs it.
	emit(Event{Phase: "bitwarden", Message: "Reading the Bitwarden organization"})
	bwStart := e.Now()
	pusher, err := e.NewPusher(settings)
	if err != nil {
		return finish(StatusFailed, fmt.Errorf("sync: bitwarden: %w", err))
	}
	pred, err := e.predictPush(ctx, profileID, settings, pusher, plan)
	timings.BitwardenMS = e.Now().Sub(bwStart).Milliseconds()
	res.Run.Timings, _ = json.Marshal(timings)
	if err != nil {
		res.BitwardenError = err.Error()
		return finish(StatusFailed, fmt.Errorf("could not read the Bitwarden organization to check what the push would change, so nothing was sent: %w", err))
	}
	diff := pred.diff
	res.Bitwarden = diff
	res.Changes.Bitwarden = diff
	res.Run.Warnings = append(res.Run.Warnings, pred.notes...)
	setChanges()
	for _, p := range diff.Problems {
		res.Run.Warnings = append(res.Run.Warnings, "Bitwarden: "+p)
	}
	if len(diff.Problems) > 0 {
		// Never send what the server will refuse.
		return finish(StatusFailed, fmt.Errorf("Bitwarden would refuse this import, so nothing was sent: %s", strings.Join(diff.Problems, "; ")))
	}

	batches := pred.batches
	hold, why := e.guard(settings, plan, diff)
	if msg := unverifiable(settings, diff); msg != "" && !hold && settingsGuardOn(settings) {
		hold, why = true, msg
	}
	if readWhy != "" {
		hold, why = true, joinReasons(readWhy, why)
	}
	switch {
	case ap != nil && ap.plan.Base != "" && ap.plan.Base != state.Hash:
		hold, why = true, fmt.Sprintf("Bitwarden was synced since run %d was held, so what it would send is no longer the change it showed; this plan needs its own approval", ap.held.ID)
	case ap != nil && plan.Hash != ap.plan.Hash:
		hold, why = true, fmt.Sprintf("the directory changed since run %d was held, so this new plan needs its own approval", ap.held.ID)
		why = joinReasons(why, readWhy, guardMessage(settings, plan, diff))
	case ap != nil && diff.Counts.Removals > ap.plan.Removals:
		hold, why = true, fmt.Sprintf("the Bitwarden organization changed since run %d was held: the push would now remove %d members, more than the %d approved", ap.held.ID, diff.Counts.Removals, ap.plan.Removals)
	case ap != nil && diff.Counts.MembershipsRemoved > ap.plan.MembershipRemovals && membershipGuardMessage(settings.Guard, diff) != "":
		hold, why = true, fmt.Sprintf("the Bitwarden organization changed since run %d was held: the push would now remove %s group memberships, more than the %s approved", ap.held.ID, thousands(diff.Counts.MembershipsRemoved), thousands(ap.plan.MembershipRemovals))
	case ap != nil:
		hold = false
		batches = ap.plan.Batches
	}
	if opts.Mode == ModeDryRun {
		if hold {
			res.Run.Warnings = append(res.Run.Warnings, "a sync would be held for approval: "+why)
		} else if err := accept(); err != nil {
			return finish(StatusFailed, err)
		}
		return finish(StatusDryRun, nil)
	}
	if hold {
		hp := heldPlan{Hash: plan.Hash, Batches: pred.batches, Removals: diff.Counts.Removals, RemovalList: diff.Removals, Base: deltaBase,
			MembershipRemovals: diff.Counts.MembershipsRemoved}
		if res.Run.Held, err = json.Marshal(hp); err != nil {
			return finish(StatusFailed, fmt.Errorf("sync: encode held plan: %w", err))
		}
		res.Run.Error = fmt.Sprintf("%s; approve or discard it in the console, or run `dirsync sync --approve %d`", why, res.Run.ID)
		if ap != nil {
			e.supersede(ctx, ap, res, "the directory or organization changed")
		}
		out, ferr := finish(StatusHeld, nil)
		if ferr == nil {
			if _, derr := e.store.DiscardHeldRuns(context.WithoutCancel(ctx), profileID, res.Run.ID, fmt.Sprintf("superseded by held run %d", res.Run.ID)); derr != nil {
				log.Warn("could not discard older held runs", "error", derr)
			}
		}
		return out, ferr
	}

	// Push. push_pending stays set if the push fails or the process dies,
	// so the next push is a full one.
	pushStart := e.Now()
	pushing = true
	if err := e.store.SetPushPending(ctx, profileID, res.Run.ID, true); err != nil {
		return finish(StatusFailed, fmt.Errorf("sync: record the push start (nothing was sent): %w", err))
	}
	if err := e.push(ctx, pusher, batches, emit); err != nil {
		timings.PushMS = e.Now().Sub(pushStart).Milliseconds()
		res.Run.Timings, _ = json.Marshal(timings)
		if applied, terr := e.afterTimeout(ctx, profileID, settings, pusher, plan, err); applied {
			res.Run.Warnings = append(res.Run.Warnings, terr.Error())
		} else {
			return finish(StatusFailed, terr)
		}
	}
	timings.PushMS = e.Now().Sub(pushStart).Milliseconds()
	res.Run.Timings, _ = json.Marshal(timings)
	if ap != nil {
		note := fmt.Sprintf("approved by %s; pushed by run %d", ap.actor, res.Run.ID)
		if terr := e.store.TransitionRun(context.WithoutCancel(ctx), ap.held.ID, StatusHeld, StatusApproved, note); terr != nil {
			log.Warn("could not mark the held run approved", "held", ap.held.ID, "error", terr)
		}
	}
	body, err := compressImport(plan.Import)
	if err != nil {
		return finish(StatusFailed, err)
	}
	if err := accept(); err != nil {
		return finish(StatusFailed, fmt.Errorf("sync: the import was sent but the read could not be recorded: %w", err))
	}
	if err := e.touchState(context.WithoutCancel(ctx), profileID, func(st *store.SyncState, now *time.Time) {
		st.Hash = plan.Hash
		st.LastBody = body
		st.LastPushAt = now
		setBaseline(st, settings, plan)
	}); err != nil {
		return finish(StatusFailed, fmt.Errorf("sync: the import was sent but its hash could not be saved (the next run will send it again): %w", err))
	}
	if err := e.store.SetPushPending(context.WithoutCancel(ctx), profileID, res.Run.ID, false); err != nil {
		log.Warn("could not record the push as complete; the next push will be a full one", "error", err)
	}
	return finish(StatusSuccess, nil)
}

// touchState records a successful run in the sync state, applying change
// to the freshly loaded state (the read may have updated it meanwhile).
func (e *Engine) touchState(ctx context.Context, profileID int64, change func(*store.SyncState, *time.Time)) error {
	st, err := e.store.GetSyncState(ctx, profileID)
	if err != nil {
		return err
	}
	now := e.Now().UTC()
	st.ProfileID = profileID
	st.LastSuccessAt = &now
	st.LastRunAt = &now
	if change != nil {
		change(&st, &now)
	}
	return e.store.SaveSyncState(ctx, st)
}

// settings loads the profile's settings, or merges an override's empty
// secrets with the saved ones, and validates them.
func (e *Engine) settings(ctx context.Context, profileID int64, override *config.Settings) (config.Settings, error) {
	saved, err := e.store.LoadSettings(ctx, profileID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return config.Settings{}, fmt.Errorf("sync: load settings: %w", err)
	}
	if override == nil {
		if errors.Is(err, store.ErrNotFound) {
			return config.Settings{}, ErrNoSettings
		}
		if verr := saved.Validate(true); verr != nil {
			return config.Settings{}, verr
		}
		return saved, nil
	}
	s := *override
	s.Normalize()
	// A saved secret fills an empty one only while it would go to the host
	// it was saved for.
	if fe := config.CarrySecrets(saved, &s, func(string) bool { return true }); fe != nil {
		return config.Settings{}, fe
	}
	if verr := s.Validate(true); verr != nil {
		return config.Settings{}, verr
	}
	return s, nil
}

// readInfo says how a read went, for the push decision and the record.
type readInfo struct {
	// full: every user and every group's members were read from the
	// directory; usersDelta: the users came from a delta read.
	full, usersDelta bool
	usersRead        int
	// settingsChanged: the settings differ from the last read's;
	// pushPending: the last push failed or was interrupted.
	settingsChanged, pushPending bool
}

// read reads the directory, using the membership cache and the user cache
// (a delta read, see delta.go) unless a full read is due. The returned
// commit writes both caches and the full-read time: the caller calls it
// only for a read it accepts (pushed, unchanged, or a dry run that would
// not be held), so nothing from a held or failed read feeds later runs.
func (e *Engine) read(ctx context.Context, profileID int64, s config.Settings, state store.SyncState, opts Options, emit func(Event)) (*directory.Snapshot, readInfo, func(context.Context) error, error) {
	var info readInfo
	readStart := e.Now()
	src, err := e.NewSource(s)
	if err != nil {
		return nil, info, nil, fmt.Errorf("sync: directory: %w", err)
	}
	ro := directory.ReadOptions{
		Users:  s.Sync.Users,
		Groups: s.Sync.Groups,
		// Soft-deleted users (AD's deleted objects) only where BDC reads
		// them: tests, and with overwriteExisting (BDC's sync.service.ts
		// getEntries(force || overwriteExisting, test)); an ordinary sync
		// would otherwise remove everyone the recycle bin still holds.
		IncludeDeleted: opts.Mode == ModeTest || s.Sync.OverwriteExisting,
		Progress: func(p directory.Progress) {
			emit(Event{Phase: "read:" + p.Phase, Message: p.Message, Done: p.Done, Total: p.Total})
		},
	}
	filters := s.Directory.Filters()
	ro.UserFilter, _ = filters.Parse(s.Sync.UserFilter, true)
	ro.GroupFilter, _ = filters.Parse(s.Sync.GroupFilter, false)
	var every time.Duration
	if cur := s.Directory.Current(); cur != nil {
		every = cur.FullReadEvery()
	}
	if e.FullReadEvery > 0 {
		every = e.FullReadEvery
	}
	fullDue := opts.FullRead || state.LastFullReadAt == nil || e.Now().Sub(*state.LastFullReadAt) >= every
	info.full = fullDue
	cachedGroups := -1
	if s.Sync.Groups && !fullDue {
		cached, cerr := e.store.LoadMemberCache(ctx, profileID)
		if cerr != nil {
			return nil, info, nil, fmt.Errorf("sync: load membership cache: %w", cerr)
		}
		ro.Cache = memberCache(cached)
		cachedGroups = len(cached)
	}
	fingerprint := readFingerprint(s)
	ds, err := e.store.GetDeltaState(ctx, profileID)
	if err != nil {
		return nil, info, nil, fmt.Errorf("sync: load delta state: %w", err)
	}
	// With overwrite on, a hard-deleted user must leave Bitwarden at once,
	// and only a full list shows it (delta.go).
	info.settingsChanged = ds.Fingerprint != fingerprint
	info.pushPending = ds.PushPending
	// A delta is asked only of a source that can read one (Okta).
	dr, deltas := src.(directory.DeltaReader)
	deltas = deltas && dr.ReadsUserDeltas()
	info.usersDelta = deltas && s.Sync.Users && !fullDue && !s.Sync.OverwriteExisting &&
		ds.UsersThrough != nil && !info.settingsChanged && !info.pushPending
	if info.usersDelta {
		ro.UsersChangedSince = ds.UsersThrough.Add(-e.DeltaMargin)
	}
	snap, err := src.Read(ctx, ro)
	if err != nil {
		if opts.Mode != ModeTest && ds.UsersThrough != nil {
			// Whatever failed, the next run reads in full.
			if ierr := e.store.InvalidateUserCache(context.WithoutCancel(ctx), profileID); ierr != nil {
				logctx.From(ctx, e.Logger).Warn("could not invalidate the user cache", "error", ierr)
			}
		}
		return nil, info, nil, err
	}
	info.usersRead = len(snap.Users)
	var userUpdate *store.UserCacheUpdate
	switch {
	case info.usersDelta:
		kept, kerr := e.store.LoadUserCache(ctx, profileID)
		if kerr != nil {
			return nil, info, nil, fmt.Errorf("sync: load user cache: %w", kerr)
		}
		all, upsert, remove := mergeUsers(kept, snap.Users, snap.UsersLeft)
		snap.Users = all
		through := *ds.UsersThrough
		if snap.UsersLastUpdated.After(through) {
			through = snap.UsersLastUpdated
		}
		if len(upsert) > 0 || len(remove) > 0 || !through.Equal(*ds.UsersThrough) {
			userUpdate = &store.UserCacheUpdate{Upsert: upsert, Remove: remove, Through: &through, Fingerprint: fingerprint}
		}
	case s.Sync.Users && !s.Sync.OverwriteExisting:
		u := &store.UserCacheUpdate{Full: true, Upsert: make([]store.CachedUser, len(snap.Users)), Fingerprint: fingerprint}
		for i, du := range snap.Users {
			u.Upsert[i] = cachedUser(du)
		}
		if !snap.UsersLastUpdated.IsZero() {
			// No user read, no watermark: the next read is a full one.
			u.Through = ptr(snap.UsersLastUpdated.UTC())
		}
		userUpdate = u
	case info.settingsChanged:
		// No user list to keep; remember the settings for the push.
		userUpdate = &store.UserCacheUpdate{Full: true, Fingerprint: fingerprint}
	}
	nothing := func(context.Context) error { return nil }
	if opts.Mode == ModeTest {
		return snap, info, nothing, nil
	}
	var groups []store.CachedGroup
	writeCache := false
	if s.Sync.Groups {
		groups = make([]store.CachedGroup, 0, len(snap.Groups))
		for _, g := range snap.Groups {
			if g.LastMembershipUpdated.IsZero() || readStart.Sub(g.LastMembershipUpdated) < e.CacheSettle {
				continue
			}
			groups = append(groups, store.CachedGroup{GroupID: g.ID, LastMembershipUpdated: g.LastMembershipUpdated, MemberIDs: g.MemberIDs})
		}
		// Every group came from the cache and none went away: the cache
		// already holds exactly this, so a warm run writes nothing.
		writeCache = !(snap.Stats.MemberReads == 0 && cachedGroups == len(groups) && snap.Stats.CachedGroups == len(groups))
	}
	// The caches and the full-read time are written only for a read the
	// run accepts (see read's doc).
	commit := func(ctx context.Context) error {
		if userUpdate != nil {
			if err := e.store.UpdateUserCache(ctx, profileID, *userUpdate); err != nil {
				return fmt.Errorf("sync: save user cache: %w", err)
			}
			userUpdate = nil
		}
		if writeCache {
			if err := e.store.ReplaceMemberCache(ctx, profileID, groups); err != nil {
				return fmt.Errorf("sync: save membership cache: %w", err)
			}
			writeCache = false
		}
		if fullDue {
			fullDue = false
			return e.markFullRead(ctx, profileID, e.Now().UTC())
		}
		return nil
	}
	return snap, info, commit, nil
}

// deltaPush reports whether this run may push only what changed since
// prev, the last pushed import (see delta.go for why each case needs a
// full push).
func deltaPush(s config.Settings, info readInfo, prev *bitwarden.ImportRequest) bool {
	return prev != nil && !info.full && !s.Sync.OverwriteExisting && !info.settingsChanged && !info.pushPending
}

func (e *Engine) markFullRead(ctx context.Context, profileID int64, at time.Time) error {
	st, err := e.store.GetSyncState(ctx, profileID)
	if err != nil {
		return fmt.Errorf("sync: load sync state: %w", err)
	}
	st.ProfileID = profileID
	st.LastFullReadAt = &at
	if err := e.store.SaveSyncState(ctx, st); err != nil {
		return fmt.Errorf("sync: save sync state: %w", err)
	}
	return nil
}

type memberCache map[string]store.CachedGroup

func (m memberCache) CachedMembers(groupID string, lmu time.Time) ([]string, bool) {
	g, ok := m[groupID]
	if !ok || !g.LastMembershipUpdated.Equal(lmu) {
		return nil, false
	}
	return g.MemberIDs, true
}

// push sends the plan's batches in order. Any failure stops it; the caller
// then stores no hash, so the next run sends everything again.
func (e *Engine) push(ctx context.Context, p Pusher, batches []*bitwarden.ImportRequest, emit func(Event)) error {
	n := len(batches)
	for i, b := range batches {
		emit(Event{Phase: "push", Message: fmt.Sprintf("Sending import %d of %d to Bitwarden", i+1, n), Done: i, Total: n})
		if err := p.Import(ctx, b); err != nil {
			if n > 1 {
				return fmt.Errorf("bitwarden import batch %d of %d failed (batches before it were applied; the next run sends everything again): %w", i+1, n, err)
			}
			return err
		}
	}
	return nil
}

// ClearCache forgets the pushed hash and the read caches: the next sync
// sends everything and reads every group's members.
func (e *Engine) ClearCache(ctx context.Context, profileID int64) error {
	return e.store.ClearCache(ctx, profileID)
}

func finalMessage(status string, err error) string {
	if err != nil {
		return "Failed: " + err.Error()
	}
	switch status {
	case StatusUnchanged:
		return "Nothing changed since the last push; nothing was sent"
	case StatusDryRun:
		return "Dry run finished; nothing was sent"
	case StatusHeld:
		return "Held for approval; nothing was sent"
	}
	return "Sync finished"
}

func ptr[T any](v T) *T { return &v }

// FinalMessage is the line that ends a run with this status, as its last
// event says it; the console uses it for runs of other processes, whose
// events it does not receive.
func FinalMessage(status string) string {
	if status == StatusFailed {
		return "The sync failed; its page says why"
	}
	return finalMessage(status, nil)
}

// joinReasons joins the non-empty reasons with "; ".
func joinReasons(rs ...string) string {
	var out []string
	for _, r := range rs {
		if r != "" {
			out = append(out, r)
		}
	}
	return strings.Join(out, "; ")
}
