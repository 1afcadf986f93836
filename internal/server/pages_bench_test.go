package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dirsync/dirsync/internal/auth"
	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
)

// benchConsole is the console's handler over a real store with a logged-in
// admin's cookie, driven in-process (no sockets in the measurement).
type benchConsole struct {
	srv    *Server
	st     *store.Store
	h      http.Handler
	cookie string
}

func newBenchConsole(b *testing.B) *benchConsole {
	b.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(b.TempDir(), "dirsync.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	hash, err := auth.Hash(testPassword, auth.TestParams)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.CreateAdmin(ctx, testUser, hash); err != nil {
		b.Fatal(err)
	}
	srv, err := New(Config{Argon: auth.TestParams, Logger: slog.New(slog.DiscardHandler)}, st)
	if err != nil {
		b.Fatal(err)
	}
	bc := &benchConsole{srv: srv, st: st, h: srv.Handler()}
	form := url.Values{"username": {testUser}, "password": {testPassword}}
	req := httptest.NewRequest("POST", "/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	bc.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther || len(rec.Result().Cookies()) == 0 {
		b.Fatalf("login: %d", rec.Code)
	}
	bc.cookie = rec.Result().Cookies()[0].String()
	return bc
}

// get serves one GET and fails unless it answers 200 with wantSub in it.
func (bc *benchConsole) get(b *testing.B, path, wantSub string, hdr ...string) int {
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("Cookie", bc.cookie)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	bc.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), wantSub) {
		b.Fatalf("GET %s: %d, %d bytes, %q not found", path, rec.Code, rec.Body.Len(), wantSub)
	}
	return rec.Body.Len()
}

func benchPage(b *testing.B, bc *benchConsole, path, wantSub string, hdr ...string) {
	b.Helper()
	size := bc.get(b, path, wantSub, hdr...)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		bc.get(b, path, wantSub, hdr...)
	}
	b.ReportMetric(float64(size), "bytes/page")
}

// BenchmarkTestPreviewPage renders a 100,000-user preview (a first sync:
// 100,000 invites): the first page, a search, the last page, the groups
// tab, a page of the invite list and a search in it, and the htmx
// fragment a search box keystroke gets.
func BenchmarkTestPreviewPage(b *testing.B) {
	bc := newBenchConsole(b)
	id, err := bc.srv.previews.put(testUser, syntheticPreview(100_000, 300))
	if err != nil {
		b.Fatal(err)
	}
	base := "/test?id=" + id
	b.Run("page1", func(b *testing.B) { benchPage(b, bc, base, "user000049@example.com") })
	b.Run("search", func(b *testing.B) { benchPage(b, bc, base+"&q=user0999", "user099900@example.com") })
	b.Run("search-nomatch", func(b *testing.B) { benchPage(b, bc, base+"&q=nobody", "No users match") })
	b.Run("last-page", func(b *testing.B) { benchPage(b, bc, base+"&page=2000", "user099999@example.com") })
	b.Run("groups", func(b *testing.B) { benchPage(b, bc, base+"&tab=groups", "Group 1") })
	b.Run("invites-page", func(b *testing.B) { benchPage(b, bc, base+"&tab=invites&page=100", "user004999@example.com") })
	b.Run("invites-search", func(b *testing.B) { benchPage(b, bc, base+"&tab=invites&q=user09999", "user099999@example.com") })
	b.Run("search-fragment", func(b *testing.B) {
		benchPage(b, bc, base+"&q=user0999", "user099900@example.com", "HX-Request", "true", "HX-Target", "preview-table")
	})
}

// BenchmarkHistoryPage renders History with 10,000 runs in the database:
// the first page and a middle one.
func BenchmarkHistoryPage(b *testing.B) {
	bc := newBenchConsole(b)
	seedBenchRuns(b, bc.st, 10_000)
	b.Run("first", func(b *testing.B) { benchPage(b, bc, "/history", "Page 1 of 200") })
	b.Run("middle", func(b *testing.B) { benchPage(b, bc, "/history?page=100", "Page 100 of 200") })
}

// BenchmarkRunPage renders a run with 1,000 changes (1,000 members added
// and invited, 200 groups with membership changes, a Bitwarden diff): the
// page (first entries of each list), a page of the whole invite list, and
// a search in it.
func BenchmarkRunPage(b *testing.B) {
	bc := newBenchConsole(b)
	seedBenchRuns(b, bc.st, 100)
	ch := dsync.Changes{Counts: dsync.ChangeCounts{MembersAdded: 5000, GroupsChanged: 200, MembershipsAdded: 20000}, Truncated: true,
		Bitwarden: &dsync.OrgDiff{OrgMembers: 5000, SyncedMembers: 4800, Counts: dsync.OrgDiffCounts{Invites: 1000}}}
	for i := range 1000 {
		ref := dsync.MemberRef{ExternalID: fmt.Sprintf("00u%017d", i), Email: fmt.Sprintf("user%06d@example.com", i)}
		ch.MembersAdded = append(ch.MembersAdded, ref)
		ch.Bitwarden.Invites = append(ch.Bitwarden.Invites, ref)
	}
	for g := range 200 {
		mc := dsync.MembershipChange{ExternalID: fmt.Sprintf("00g%017d", g), Name: fmt.Sprintf("Group %d", g)}
		for i := range 100 {
			mc.Added = append(mc.Added, fmt.Sprintf("00u%017d", g*100+i))
		}
		ch.MembershipChanges = append(ch.MembershipChanges, mc)
	}
	cj, err := json.Marshal(ch)
	if err != nil {
		b.Fatal(err)
	}
	tj, _ := json.Marshal(dsync.Timings{ReadMS: 42_000, PlanMS: 800, PushMS: 3000, TotalMS: 45_800})
	done := runsEpoch.Add(46 * time.Second)
	r := store.Run{ProfileID: store.DefaultProfile, Trigger: "schedule", Status: store.StatusSuccess, StartedAt: runsEpoch,
		FinishedAt: &done, Changes: cj, Timings: tj, Warnings: []string{"user 00uX left out: no email address in Okta"}}
	if err := bc.st.CreateRun(context.Background(), &r); err != nil {
		b.Fatal(err)
	}
	b.Run("big-changes", func(b *testing.B) {
		benchPage(b, bc, fmt.Sprintf("/history/%d", r.ID), "Show all 1000")
	})
	b.Run("list-page", func(b *testing.B) {
		benchPage(b, bc, fmt.Sprintf("/history/%d?list=bitwarden-invites&page=20", r.ID), "user000999@example.com")
	})
	b.Run("list-search", func(b *testing.B) {
		benchPage(b, bc, fmt.Sprintf("/history/%d?list=bitwarden-invites&q=user00050", r.ID), "user000509@example.com")
	})
}

// seedBenchRuns records n finished runs with CreateRun.
func seedBenchRuns(b *testing.B, st *store.Store, n int) {
	b.Helper()
	ctx := context.Background()
	for i := 1; i <= n; i++ {
		start := runsEpoch.Add(time.Duration(i) * time.Minute)
		end := start.Add(time.Duration(i%90) * time.Second)
		r := store.Run{ProfileID: store.DefaultProfile, Trigger: "schedule", Status: store.StatusSuccess,
			StartedAt: start, FinishedAt: &end, Counts: store.RunCounts{Users: 5000, Members: 4990, Groups: 40},
			Warnings: []string{"user 00uX left out: no email address in Okta"}}
		if i%10 == 0 {
			r.Status, r.Error = store.StatusFailed, "okta: GET /api/v1/users: 429 E0000047 API call exceeded rate limit due to too many requests."
		}
		if err := st.CreateRun(ctx, &r); err != nil {
			b.Fatal(err)
		}
	}
}
