package sync

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
	"github.com/dirsync/dirsync/internal/store"
)

// guardedHarness is a synced org of 100 active members with the default
// guard (50 members or 10%, so 10 here).
func guardedHarness(t *testing.T) *harness {
	t.Helper()
	org := oktatest.Generate(oktatest.Spec{Users: 100, Groups: 4, MembersPerGroup: 20, Seed: 11})
	h := newHarness(t, org, nil)
	h.mustRun(StatusSuccess)
	if n := len(h.bw.Members()); n != 100 {
		t.Fatalf("org has %d members after the first sync, want 100", n)
	}
	return h
}

// deprovision marks n more active users deprovisioned.
func (h *harness) deprovision(n int) {
	h.t.Helper()
	for _, u := range activeUsers(h)[:n] {
		if err := h.okta.SetUserStatus(u.ID, oktatest.StatusDeprovisioned); err != nil {
			h.t.Fatal(err)
		}
	}
}

func (h *harness) getRun(id int64) store.Run {
	h.t.Helper()
	r, err := h.store.GetRun(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

func TestGuardHoldsAndApprovalPushesOnce(t *testing.T) {
	h := guardedHarness(t)
	h.deprovision(30)
	pushes := h.imports()

	held := h.mustRun(StatusHeld)
	if h.imports() != pushes {
		t.Fatal("a held run pushed")
	}
	if !strings.Contains(held.Run.Error, "would remove 30 of 100 members; the limit is 10") {
		t.Fatalf("held run error %q", held.Run.Error)
	}
	rec := h.getRun(held.Run.ID)
	var hp heldPlan
	if err := json.Unmarshal(rec.Held, &hp); err != nil {
		t.Fatal(err)
	}
	if hp.Hash != held.Plan.Hash || len(hp.Batches) != 1 || hp.Removals != 30 || len(hp.RemovalList) != 30 {
		t.Fatalf("held plan: hash %v, %d batches, %d removals listed of %d", hp.Hash == held.Plan.Hash, len(hp.Batches), len(hp.RemovalList), hp.Removals)
	}
	if rec.Counts.Removals != 30 {
		t.Fatalf("run counts removals %d", rec.Counts.Removals)
	}
	st, _ := h.store.GetSyncState(context.Background(), store.DefaultProfile)
	if st.Hash == held.Plan.Hash {
		t.Fatal("the held plan's hash was stored as pushed")
	}

	// A scheduled run meanwhile holds the same plan again and supersedes
	// the first held run.
	again := h.mustRun(StatusHeld)
	if r := h.getRun(held.Run.ID); r.Status != StatusDiscarded || !slices.ContainsFunc(r.Warnings, func(w string) bool { return strings.Contains(w, "superseded by held run") }) {
		t.Fatalf("older held run: %s %v", r.Status, r.Warnings)
	}
	if _, err := h.engine.Approve(context.Background(), store.DefaultProfile, held.Run.ID, "alice"); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("approving a superseded run: %v", err)
	}

	res, err := h.engine.Approve(context.Background(), store.DefaultProfile, again.Run.ID, "alice")
	if err != nil {
		t.Fatalf("approve: %v", err)
	}
	if res.Run.Status != StatusSuccess || res.Run.Trigger != TriggerApproval || res.Run.ID == again.Run.ID {
		t.Fatalf("approval run %d: %s/%s", res.Run.ID, res.Run.Status, res.Run.Trigger)
	}
	if h.imports() != pushes+1 {
		t.Fatalf("imports %d, want one more than %d", h.imports(), pushes)
	}
	if got := string(h.bw.Imports()[pushes].Raw); !strings.Contains(got, `"deleted":true`) {
		t.Fatal("the pushed body has no deleted members")
	}
	if n := len(h.bw.Members()); n != 70 {
		t.Fatalf("org has %d members, want 70", n)
	}
	if !slices.ContainsFunc(res.Run.Warnings, func(w string) bool {
		return strings.Contains(w, "approval of held run") && strings.Contains(w, "alice")
	}) {
		t.Fatalf("approval run warnings %v", res.Run.Warnings)
	}
	if r := h.getRun(again.Run.ID); r.Status != StatusApproved {
		t.Fatalf("held run status %s, want approved", r.Status)
	}
	// Only once.
	if _, err := h.engine.Approve(context.Background(), store.DefaultProfile, again.Run.ID, "bob"); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("second approval: %v", err)
	}
	if h.imports() != pushes+1 {
		t.Fatal("a second approval pushed")
	}
	// The next sync finds nothing new.
	h.mustRun(StatusUnchanged)
}

func TestApprovalReplansWhenTheDirectoryChanged(t *testing.T) {
	h := guardedHarness(t)
	h.deprovision(30)
	held := h.mustRun(StatusHeld)
	pushes := h.imports()

	h.deprovision(1)
	res, err := h.engine.Approve(context.Background(), store.DefaultProfile, held.Run.ID, "alice")
	if err != nil {
		t.Fatalf("approve: %v", err)
	}
	if res.Run.Status != StatusHeld || res.Run.Trigger != TriggerApproval || !strings.Contains(res.Run.Error, "the directory changed") {
		t.Fatalf("re-plan: %s/%s %q, want held again", res.Run.Status, res.Run.Trigger, res.Run.Error)
	}
	if h.imports() != pushes {
		t.Fatal("a changed directory was pushed without a new approval")
	}
	old := h.getRun(held.Run.ID)
	if old.Status != StatusDiscarded || !slices.ContainsFunc(old.Warnings, func(w string) bool {
		return strings.Contains(w, "superseded by run") && strings.Contains(w, "changed")
	}) {
		t.Fatalf("old held run %s %v", old.Status, old.Warnings)
	}
	// The new held run is approvable and pushes 31 removals.
	res, err = h.engine.Approve(context.Background(), store.DefaultProfile, res.Run.ID, "alice")
	if err != nil || res.Run.Status != StatusSuccess {
		t.Fatalf("approve the new plan: %v %s", err, res.Run.Status)
	}
	if n := len(h.bw.Members()); n != 69 {
		t.Fatalf("org has %d members, want 69", n)
	}
}

func TestApprovalReholdsWhenBitwardenWouldRemoveMore(t *testing.T) {
	h := newHarness(t, oktatest.Generate(oktatest.Spec{Users: 100, Groups: 2, MembersPerGroup: 5, Seed: 5}), nil)
	s := h.settings()
	s.Sync.OverwriteExisting = true
	h.save(s)
	h.mustRun(StatusSuccess)
	h.bw.AcceptAll() // invited members cannot be removed by a full overwrite
	for _, u := range activeUsers(h)[:20] {
		if err := h.okta.RemoveUser(u.ID); err != nil {
			t.Fatal(err)
		}
	}
	held := h.mustRun(StatusHeld)
	// Someone syncs more members into Bitwarden meanwhile: overwrite would
	// now remove them too.
	h.bw.AddMember("extra@corp.example", "00uextra", 2)
	res, err := h.engine.Approve(context.Background(), store.DefaultProfile, held.Run.ID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if res.Run.Status != StatusHeld || !strings.Contains(res.Run.Error, "would now remove 21 members, more than the 20 approved") {
		t.Fatalf("status %s error %q", res.Run.Status, res.Run.Error)
	}
}

func TestDiscardHeldRun(t *testing.T) {
	h := guardedHarness(t)
	h.deprovision(30)
	held := h.mustRun(StatusHeld)
	pushes := h.imports()
	ctx := context.Background()

	tests := []struct {
		name string
		id   int64
	}{
		{"no such run", 9999},
		{"a run that is not held", held.Run.ID - 1},
	}
	for _, tc := range tests {
		if err := h.engine.Discard(ctx, store.DefaultProfile, tc.id, "alice"); !errors.Is(err, ErrNotHeld) {
			t.Errorf("%s: discard: %v", tc.name, err)
		}
		if _, err := h.engine.Approve(ctx, store.DefaultProfile, tc.id, "alice"); !errors.Is(err, ErrNotHeld) {
			t.Errorf("%s: approve: %v", tc.name, err)
		}
	}
	if err := h.engine.Discard(ctx, 2, held.Run.ID, "alice"); !errors.Is(err, ErrNotHeld) {
		t.Errorf("discard from another profile: %v", err)
	}
	if err := h.engine.Discard(ctx, store.DefaultProfile, held.Run.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	r := h.getRun(held.Run.ID)
	if r.Status != StatusDiscarded || !slices.Contains(r.Warnings, "discarded by alice") {
		t.Fatalf("discarded run %s %v", r.Status, r.Warnings)
	}
	if err := h.engine.Discard(ctx, store.DefaultProfile, held.Run.ID, "alice"); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("second discard: %v", err)
	}
	if _, err := h.engine.Approve(ctx, store.DefaultProfile, held.Run.ID, "alice"); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("approve after discard: %v", err)
	}
	if h.imports() != pushes {
		t.Fatal("pushed")
	}
}

func TestGuardThresholds(t *testing.T) {
	tests := []struct {
		name       string
		maxCount   int
		maxPct     float64
		deprov     int
		wantStatus string
	}{
		{"under the percentage", 50, 10, 10, StatusSuccess},
		{"over the percentage", 50, 10, 11, StatusHeld},
		{"count smaller than the percentage", 5, 50, 6, StatusHeld},
		{"count only", 20, 0, 20, StatusSuccess},
		{"guard off", 0, 0, 90, StatusSuccess},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := guardedHarness(t)
			s := h.settings()
			s.Guard.MaxRemovals, s.Guard.MaxRemovalPercent = tc.maxCount, tc.maxPct
			// Deprovisioned members also leave their groups and shrink the
			// read: this test is about the deletion guard alone.
			s.Guard.MaxMembershipRemovals, s.Guard.MaxMembershipRemovalPercent, s.Guard.MaxShrinkPercent = 0, 0, 0
			h.save(s)
			h.deprovision(tc.deprov)
			// A dry run says what a sync would do, and holds nothing.
			dry, err := h.run(ModeDryRun)
			if err != nil || dry.Run.Status != StatusDryRun {
				t.Fatalf("dry run: %v %s", err, dry.Run.Status)
			}
			warned := slices.ContainsFunc(dry.Run.Warnings, func(w string) bool { return strings.Contains(w, "would be held") })
			if warned != (tc.wantStatus == StatusHeld) {
				t.Fatalf("dry run warnings %v", dry.Run.Warnings)
			}
			h.mustRun(tc.wantStatus)
		})
	}
}
