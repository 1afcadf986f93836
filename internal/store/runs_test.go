package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRunsLifecycle(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if _, err := s.LastRun(ctx, DefaultProfile); !errors.Is(err, ErrNotFound) {
		t.Errorf("LastRun on empty: %v", err)
	}
	if _, err := s.GetRun(ctx, 42); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetRun missing: %v", err)
	}
	if err := s.FinishRun(ctx, &Run{ID: 42, Status: StatusFailed}); !errors.Is(err, ErrNotFound) {
		t.Errorf("FinishRun missing: %v", err)
	}

	r := Run{ProfileID: DefaultProfile, Trigger: "manual"}
	if err := s.CreateRun(ctx, &r); err != nil {
		t.Fatal(err)
	}
	if r.ID == 0 || r.Status != StatusRunning || r.StartedAt.IsZero() {
		t.Fatalf("created run = %+v", r)
	}
	got, err := s.GetRun(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(got)
	if !strings.Contains(string(js), `"warnings":[]`) || !strings.Contains(string(js), `"finishedAt":null`) {
		t.Errorf("running run JSON = %s", js)
	}

	big := []byte(`{"remove":[` + strings.Repeat(`"00u0000000000000000x",`, 5000) + `"z"]}`)
	fin := time.Now().UTC().Add(time.Second)
	r.Status, r.FinishedAt, r.Hash = StatusHeld, &fin, "h1"
	r.Counts = RunCounts{Users: 10, Groups: 2, Members: 9, Deleted: 1, Removals: 3, DirectoryRequests: 7, MembershipsAdded: 4}
	r.Warnings = []string{"dropped a@x: no email"}
	r.Error = ""
	r.Changes = json.RawMessage(`{"invites":["a@x.com"]}`)
	r.Timings = json.RawMessage(`{"read":12}`)
	r.Held = json.RawMessage(big)
	if err := s.FinishRun(ctx, &r); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetRun(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := r
	want.StartedAt = r.StartedAt.UTC()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GetRun:\n got %+v\nwant %+v", got, want)
	}
	var heldLen int
	if err := s.DB().Get(&heldLen, `SELECT length(held) FROM runs WHERE id = ?`, r.ID); err != nil {
		t.Fatal(err)
	}
	if heldLen >= len(big)/4 {
		t.Errorf("held stored as %d bytes for %d bytes of JSON; want gzip", heldLen, len(big))
	}
	js, _ = json.Marshal(got)
	if strings.Contains(string(js), "00u0000000000000000x") {
		t.Errorf("Held must not be in the run JSON")
	}

	last, err := s.LastRun(ctx, DefaultProfile)
	if err != nil || last.ID != r.ID || last.Held != nil || string(last.Changes) != string(r.Changes) {
		t.Errorf("LastRun = %+v, %v", last, err)
	}
}

func TestListRunsPaginationAndPrevious(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	statuses := []string{StatusSuccess, StatusUnchanged, StatusFailed, StatusSuccess, StatusDryRun, StatusHeld, StatusSuccess}
	var ids []int64
	for i, st := range statuses {
		fin := time.Unix(int64(1000+i), 0)
		r := Run{ProfileID: DefaultProfile, Trigger: "schedule", Status: st, StartedAt: time.Unix(int64(1000+i), 0), FinishedAt: &fin,
			Changes: json.RawMessage(`{"n":1}`), Held: json.RawMessage(`{"h":1}`), Timings: json.RawMessage(`{"t":1}`)}
		if err := s.CreateRun(ctx, &r); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	other := Run{ProfileID: 2, Trigger: "cli", Status: StatusSuccess}
	if err := s.CreateRun(ctx, &other); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		limit, offset int
		want          []int64
	}{
		{3, 0, []int64{ids[6], ids[5], ids[4]}},
		{3, 3, []int64{ids[3], ids[2], ids[1]}},
		{3, 6, []int64{ids[0]}},
		{3, 9, nil},
		{0, 0, []int64{ids[6], ids[5], ids[4], ids[3], ids[2], ids[1], ids[0]}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("limit%d_offset%d", tc.limit, tc.offset), func(t *testing.T) {
			runs, total, err := s.ListRuns(ctx, DefaultProfile, tc.limit, tc.offset)
			if err != nil {
				t.Fatal(err)
			}
			if total != len(statuses) {
				t.Errorf("total = %d, want %d", total, len(statuses))
			}
			var got []int64
			for _, r := range runs {
				got = append(got, r.ID)
				if r.Changes != nil || r.Held != nil {
					t.Errorf("ListRuns loaded big blobs for run %d", r.ID)
				}
				if string(r.Timings) != `{"t":1}` || r.Warnings == nil || r.ProfileID != DefaultProfile {
					t.Errorf("ListRuns run = %+v", r)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ids = %v, want %v", got, tc.want)
			}
		})
	}

	prevCases := []struct {
		before int64
		want   int64
	}{
		{0, ids[6]}, {ids[6], ids[3]}, {ids[3], ids[0]}, {ids[1], ids[0]}, {ids[0], 0},
	}
	for _, tc := range prevCases {
		p, err := s.PreviousPushedRun(ctx, DefaultProfile, tc.before)
		if tc.want == 0 {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("PreviousPushedRun(before %d) = %d, %v; want ErrNotFound", tc.before, p.ID, err)
			}
			continue
		}
		if err != nil || p.ID != tc.want || string(p.Changes) != `{"n":1}` {
			t.Errorf("PreviousPushedRun(before %d) = %d, %v; want %d", tc.before, p.ID, err, tc.want)
		}
	}
}

// seedRuns inserts n finished runs quickly in one transaction.
func seedRuns(tb testing.TB, s *Store, profileID int64, n int) {
	tb.Helper()
	tx, err := s.DB().Beginx()
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO profiles (id, created_at, updated_at) VALUES (?, '', '') ON CONFLICT DO NOTHING`, profileID); err != nil {
		tb.Fatal(err)
	}
	changes := `{"invites":[` + strings.Repeat(`"someone@example.com",`, 20) + `"x"]}`
	// One statement generates the rows, so seeding stays fast under -race.
	if _, err := tx.Exec(`
		WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < ?)
		INSERT INTO runs (profile_id, trigger, status, started_at, finished_at, counts, changes)
		SELECT ?, 'schedule', 'unchanged', strftime('%Y-%m-%dT%H:%M:%S.000000000Z', i, 'unixepoch'),
			strftime('%Y-%m-%dT%H:%M:%S.000000000Z', i, 'unixepoch'), '{"users":5}', ? FROM seq`,
		n, profileID, changes); err != nil {
		tb.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}

func TestListRunsUsesIndex(t *testing.T) {
	s := newStore(t)
	seedRuns(t, s, DefaultProfile, 10000)
	seedRuns(t, s, 2, 100)
	var plan []struct {
		ID     int    `db:"id"`
		Parent int    `db:"parent"`
		NotUse int    `db:"notused"`
		Detail string `db:"detail"`
	}
	if err := s.r.Select(&plan, `EXPLAIN QUERY PLAN SELECT `+runColsList+` FROM runs WHERE profile_id = ? ORDER BY id DESC LIMIT ? OFFSET ?`, 1, 50, 0); err != nil {
		t.Fatal(err)
	}
	var details []string
	for _, p := range plan {
		details = append(details, p.Detail)
	}
	all := strings.Join(details, "; ")
	if !strings.Contains(all, "runs_profile_id") || strings.Contains(all, "TEMP B-TREE") {
		t.Errorf("ListRuns plan = %q; want the (profile_id, id DESC) index and no sort", all)
	}
	start := time.Now()
	runs, total, err := s.ListRuns(context.Background(), DefaultProfile, 50, 5000)
	if err != nil || total != 10000 || len(runs) != 50 || runs[0].ID != 5000 {
		t.Fatalf("ListRuns = %d runs (first %+v), total %d, %v", len(runs), runs, total, err)
	}
	t.Logf("ListRuns page at offset 5000 of 10,000: %v", time.Since(start))
}

func BenchmarkListRuns(b *testing.B) {
	s := newStore(b)
	seedRuns(b, s, DefaultProfile, 10000)
	ctx := context.Background()
	for _, off := range []int{0, 9950} {
		b.Run(fmt.Sprintf("offset%d", off), func(b *testing.B) {
			for b.Loop() {
				if _, _, err := s.ListRuns(ctx, DefaultProfile, 50, off); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestConcurrentWritersAndReaders(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.db")
	key := writeKey(t, dir, "k", randKey(t), "raw")
	// Two stores on one file stand for two processes.
	stores := []*Store{openAt(t, path, key), openAt(t, path, key)}
	ctx := context.Background()
	const writers, perWriter = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for w := range writers {
		wg.Go(func() {
			s := stores[w%2]
			for i := range perWriter {
				r := Run{ProfileID: DefaultProfile, Trigger: "cli"}
				if err := s.CreateRun(ctx, &r); err != nil {
					errs <- fmt.Errorf("writer %d create %d: %w", w, i, err)
					return
				}
				fin := time.Now()
				r.Status, r.FinishedAt = StatusSuccess, &fin
				if err := s.FinishRun(ctx, &r); err != nil {
					errs <- fmt.Errorf("writer %d finish %d: %w", w, i, err)
					return
				}
				if err := s.AddAudit(ctx, AuditEntry{Actor: "w", Action: "x"}); err != nil {
					errs <- fmt.Errorf("writer %d audit %d: %w", w, i, err)
					return
				}
			}
		})
	}
	done := make(chan struct{})
	var readers sync.WaitGroup
	for i := range 2 {
		readers.Go(func() {
			s := stores[i]
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, _, err := s.ListRuns(ctx, DefaultProfile, 20, 0); err != nil {
					errs <- fmt.Errorf("reader: %w", err)
					return
				}
				if _, err := s.LastRun(ctx, DefaultProfile); err != nil && !errors.Is(err, ErrNotFound) {
					errs <- fmt.Errorf("reader last: %w", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(done)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	_, total, err := stores[0].ListRuns(ctx, DefaultProfile, 1, 0)
	if err != nil || total != writers*perWriter {
		t.Errorf("total runs = %d (%v), want %d", total, err, writers*perWriter)
	}
}

func TestReadPoolIsReadOnly(t *testing.T) {
	s := newStore(t)
	if _, err := s.r.Exec(`INSERT INTO audit (at, actor, action) VALUES ('', 'a', 'b')`); err == nil {
		t.Errorf("a write through the read pool succeeded")
	}
}
