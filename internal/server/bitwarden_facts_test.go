package server

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/dirsync/dirsync/internal/bitwarden/bwtest"
	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/demo"
	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
)

func text(r resp, t *testing.T, id string) string {
	t.Helper()
	return strings.Join(strings.Fields(testid(r.doc(t), id).Text()), " ")
}

// The Test page says what the prediction rests on, the seats the push
// needs on Bitwarden cloud, and that new members are staged.
func TestTestPageShowsBasisSeatsAndStaged(t *testing.T) {
	p := newPreviewEnv(t, previewOrg(), func(s *config.Settings) { s.Sync.InviteUsers = false })
	page, _ := p.runTest(nil)
	if got := testid(page.doc(t), "bitwarden-basis").AttrOr("data-basis", ""); got != dsync.BasisListing {
		t.Errorf("basis %q, want listing", got)
	}
	if got := text(page, t, "bitwarden-staged"); !strings.Contains(got, "Staged") {
		t.Errorf("staged note %q", got)
	}
	if got := strings.TrimSpace(testid(page.doc(t), "bitwarden-counts").Text()); !strings.Contains(got, "Staged") {
		t.Errorf("counts %q do not call new members staged", got)
	}

	p = newPreviewEnv(t, previewOrg(), nil)
	seats, limit := 10, 500
	p.bw.SetSeats(&seats, &limit)
	page, _ = p.runTest(nil)
	if got := text(page, t, "bitwarden-seats"); !strings.Contains(got, "0 in use of 10") || !strings.Contains(got, "needs 107 more") || !strings.Contains(got, "autoscale limit of 500") {
		t.Errorf("seats %q", got)
	}
	limit = 20
	p.bw.SetSeats(&seats, &limit)
	page, _ = p.runTest(nil)
	if got := text(page, t, "bitwarden-seats"); !strings.Contains(got, "autoscale limit of 20") || !strings.Contains(got, "Nothing will be sent") {
		t.Errorf("refused seats %q", got)
	}
}

// Members a full overwrite cannot remove are listed by email with what to
// do; a Vaultwarden-like server's basis is named.
func TestTestPageListsMembersSyncCannotRemoveAndVaultwarden(t *testing.T) {
	p := newPreviewEnv(t, previewOrg(), func(s *config.Settings) { s.Sync.OverwriteExisting = true })
	p.bw.AddMemberWith(bwtest.Member{Email: "left@corp.example", ExternalID: "00ugone", Type: bwtest.User, Status: bwtest.Invited})
	page, _ := p.runTest(nil)
	got := text(page, t, "bitwarden-cannot-remove")
	if !strings.Contains(got, "remove them in Bitwarden, or they stay") || !strings.Contains(got, "left@corp.example") {
		t.Errorf("cannot-remove notice %q", got)
	}

	vw := bwtest.New(bwtest.Options{Vaultwarden: true})
	t.Cleanup(vw.Close)
	st, err := p.st.LoadSettings(context.Background(), store.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	demo.Connect(&st, p.okta, vw)
	st.Sync.OverwriteExisting = false
	if err := demo.Save(context.Background(), p.st, store.DefaultProfile, st); err != nil {
		t.Fatal(err)
	}
	page, _ = p.runTest(nil)
	if b := testid(page.doc(t), "bitwarden-basis"); b.AttrOr("data-basis", "") != dsync.BasisNone || !strings.Contains(b.Text(), "Vaultwarden?") {
		t.Errorf("basis %q (%s)", b.Text(), b.AttrOr("data-basis", ""))
	}
}

// The run page names a re-created account's re-link.
func TestRunPageNamesTheRelink(t *testing.T) {
	org := oktatest.Generate(oktatest.Spec{Users: 10, Groups: 1, MembersPerGroup: 3, Seed: 3})
	p := newPreviewEnv(t, org, nil)
	p.okta.AddUser(oktatest.User{ID: "00uold", Email: "pat@corp.example"})
	ctx := context.Background()
	if _, err := p.srv.engine.Run(ctx, store.DefaultProfile, dsync.Options{Mode: dsync.ModeSync}); err != nil {
		t.Fatal(err)
	}
	if err := p.okta.SetUserStatus("00uold", oktatest.StatusDeprovisioned); err != nil {
		t.Fatal(err)
	}
	p.okta.AddUser(oktatest.User{ID: "00unew", Email: "pat@corp.example"})
	res, err := p.srv.engine.Run(ctx, store.DefaultProfile, dsync.Options{Mode: dsync.ModeSync})
	if err != nil || res.Run.Status != dsync.StatusSuccess {
		t.Fatalf("run: %v %s", err, res.Run.Status)
	}
	page := p.get(p.c, "/history/"+strconv.FormatInt(res.Run.ID, 10))
	wantStatus(t, page, 200)
	if got := text(page, t, "bitwarden-relinks"); !strings.Contains(got, "pat@corp.example — 00uold → 00unew") {
		t.Errorf("relinks list %q", got)
	}
}
