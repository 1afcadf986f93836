package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
	"github.com/dirsync/dirsync/internal/store"
)

func TestSyncApproveAndDiscard(t *testing.T) {
	c := newCLI(t)
	settings := c.settingsJSON(func(m map[string]any) {
		m["guard"] = map[string]any{"maxRemovals": 2, "maxRemovalPercent": 0}
	})
	if code, _, stderr := c.run(settings, "config", "import", "-"); code != 0 {
		t.Fatal(stderr)
	}
	if code, _, stderr := c.run("", "sync"); code != 0 {
		t.Fatalf("first sync: exit %d %s", code, stderr)
	}
	deprovision := func(n int) {
		t.Helper()
		for _, u := range c.okta.Org().Users {
			if n == 0 {
				return
			}
			if u.Status == oktatest.StatusActive && u.Email != "" {
				if err := c.okta.SetUserStatus(u.ID, oktatest.StatusDeprovisioned); err != nil {
					t.Fatal(err)
				}
				n--
			}
		}
	}
	heldRun := func() int64 {
		t.Helper()
		code, out, stderr := c.run("", "sync", "--json")
		if code != exitHeld || !strings.Contains(stderr, "is held for approval") || !strings.Contains(stderr, "--approve") {
			t.Fatalf("sync over the guard: exit %d %s", code, stderr)
		}
		var r struct {
			ID     int64  `json:"id"`
			Status string `json:"status"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil || r.Status != "held" {
			t.Fatalf("run record %v %s", err, out)
		}
		return r.ID
	}
	deprovision(3)
	imports := len(c.bw.Imports())
	held := heldRun()
	id := strconv.FormatInt(held, 10)

	tests := []struct {
		name       string
		args       []string
		change     func()
		wantCode   int
		wantStderr string
		wantPushed int
	}{
		{"approve a run that does not exist", []string{"sync", "--approve", "999"}, nil, exitFailed, "no run 999", 0},
		// 0 is no run id: an error, not a plain sync.
		{"approve 0", []string{"sync", "--approve", "0"}, nil, exitUsage, "a run id is a positive number", 0},
		{"discard 0", []string{"sync", "--discard=0"}, nil, exitUsage, "a run id is a positive number", 0},
		{"approve and discard together", []string{"sync", "--approve", id, "--discard", id}, nil, exitUsage, "only one of", 0},
		{"approve after the directory changed", []string{"sync", "--approve", id}, func() { deprovision(1) }, exitHeld, "the new plan is held as run", 0},
	}
	for _, tc := range tests {
		if tc.change != nil {
			tc.change()
		}
		code, _, stderr := c.run("", tc.args...)
		if code != tc.wantCode || !strings.Contains(stderr, tc.wantStderr) {
			t.Fatalf("%s: exit %d %q, want %d %q", tc.name, code, stderr, tc.wantCode, tc.wantStderr)
		}
		if got := len(c.bw.Imports()) - imports; got != tc.wantPushed {
			t.Fatalf("%s: %d pushes", tc.name, got)
		}
	}
	// The re-held run is the latest; approving it pushes.
	latest := held + 1
	code, out, stderr := c.run("", "sync", "--approve", strconv.FormatInt(latest, 10))
	if code != 0 || !strings.Contains(stderr, "approved: pushed as run") || !strings.Contains(out, "success (approval)") {
		t.Fatalf("approve: exit %d %s %s", code, out, stderr)
	}
	if len(c.bw.Imports()) != imports+1 {
		t.Fatal("approval did not push once")
	}
	if code, _, stderr := c.run("", "sync", "--approve", strconv.FormatInt(latest, 10)); code != exitFailed || !strings.Contains(stderr, "approved") {
		t.Fatalf("second approval: exit %d %s", code, stderr)
	}

	// Discard.
	deprovision(3)
	held = heldRun()
	if code, _, stderr := c.run("", "sync", "--discard", strconv.FormatInt(held, 10)); code != 0 || !strings.Contains(stderr, "discarded") {
		t.Fatalf("discard: exit %d %s", code, stderr)
	}
	if code, out, _ := c.run("", "history", "--json", "--limit", "1"); code != 0 || !strings.Contains(out, `"discarded"`) {
		t.Fatalf("history after discard: %s", out)
	}
	// The audit log says what each approval did, as the console's does
	// (dsync.ApprovalAudit): held again, pushed; the refused second
	// approval and the failed ones leave no "approved" entry.
	st, err := store.Open(context.Background(), c.db, store.Options{KeyFile: filepath.Join(filepath.Dir(c.db), "secret.key")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	entries, _, err := st.ListAudit(context.Background(), 50, 0)
	if err != nil {
		t.Fatal(err)
	}
	var approved, discarded []string
	for _, e := range entries {
		switch e.Action {
		case "run.approved":
			approved = append(approved, e.Detail)
		case "run.discarded":
			discarded = append(discarded, e.Detail)
		}
	}
	pushed := fmt.Sprintf("run %d, pushed as run ", latest)
	if len(approved) != 2 || !slices.ContainsFunc(approved, func(d string) bool { return strings.HasPrefix(d, pushed) }) ||
		!slices.ContainsFunc(approved, func(d string) bool { return strings.Contains(d, "so the new plan was held as run") }) {
		t.Errorf("approval audit entries %q: want one held again and one %q…", approved, pushed)
	}
	if want := fmt.Sprintf("run %d", held); !slices.Equal(discarded, []string{want}) {
		t.Errorf("discard audit entries %q, want [%s]", discarded, want)
	}
}
