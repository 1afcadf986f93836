package store

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"
)

func TestSyncStateRoundTrip(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	zero, err := s.GetSyncState(ctx, DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(zero, SyncState{ProfileID: DefaultProfile}) {
		t.Errorf("empty state = %+v", zero)
	}
	t1 := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	t2, t3 := t1.Add(time.Minute), t1.Add(2*time.Minute)
	want := SyncState{ProfileID: DefaultProfile, Hash: "deadbeef", LastPushAt: &t1, LastSuccessAt: &t2, LastRunAt: &t3, LastFullReadAt: &t1, LastBody: []byte{0x1f, 0x8b, 0, 1, 2}}
	if err := s.SaveSyncState(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetSyncState(ctx, DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	body := want.LastBody
	want.LastBody = nil // read separately
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}
	if b, err := s.LastBody(ctx, DefaultProfile); err != nil || !reflect.DeepEqual(b, body) {
		t.Errorf("LastBody = %x, %v; want %x", b, err, body)
	}
	// Overwrite with fewer fields: nil times become nil, a nil body keeps
	// the stored one.
	want2 := SyncState{ProfileID: DefaultProfile, Hash: "x", LastRunAt: &t3}
	if err := s.SaveSyncState(ctx, want2); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetSyncState(ctx, DefaultProfile); !reflect.DeepEqual(got, want2) {
		t.Errorf("overwrite: got %+v want %+v", got, want2)
	}
	if b, _ := s.LastBody(ctx, DefaultProfile); !reflect.DeepEqual(b, body) {
		t.Errorf("a save without a body lost the stored one: %x", b)
	}
	if err := s.ClearCache(ctx, DefaultProfile); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetSyncState(ctx, DefaultProfile)
	if got.Hash != "" || got.LastRunAt == nil {
		t.Errorf("after ClearCache: %+v", got)
	}
	if b, _ := s.LastBody(ctx, DefaultProfile); b != nil {
		t.Errorf("ClearCache kept the last body")
	}
	// Other profiles are untouched.
	if got, _ := s.GetSyncState(ctx, 2); got.Hash != "" || got.ProfileID != 2 {
		t.Errorf("profile 2 = %+v", got)
	}
}

func TestMemberCache(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	lmu := time.Date(2024, 1, 2, 3, 4, 5, 6000000, time.UTC)
	first := []CachedGroup{
		{GroupID: "g1", LastMembershipUpdated: lmu, MemberIDs: []string{"u1", "u2", ""}},
		{GroupID: "g2", LastMembershipUpdated: lmu.Add(time.Hour), MemberIDs: []string{}},
		{GroupID: "g3", LastMembershipUpdated: lmu, MemberIDs: []string{"ünïcødé", "with\nnewline,comma\"quote"}},
	}
	if err := s.ReplaceMemberCache(ctx, DefaultProfile, first); err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceMemberCache(ctx, 2, []CachedGroup{{GroupID: "other", LastMembershipUpdated: lmu, MemberIDs: []string{"z"}}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.LoadMemberCache(ctx, DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]CachedGroup{}
	for _, g := range first {
		want[g.GroupID] = g
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("load:\n got %+v\nwant %+v", got, want)
	}

	// Replace drops groups not in the new set and leaves other profiles.
	second := []CachedGroup{{GroupID: "g2", LastMembershipUpdated: lmu, MemberIDs: []string{"u9"}}}
	if err := s.ReplaceMemberCache(ctx, DefaultProfile, second); err != nil {
		t.Fatal(err)
	}
	got, _ = s.LoadMemberCache(ctx, DefaultProfile)
	if !reflect.DeepEqual(got, map[string]CachedGroup{"g2": second[0]}) {
		t.Errorf("after replace: %+v", got)
	}
	if other, _ := s.LoadMemberCache(ctx, 2); len(other) != 1 {
		t.Errorf("profile 2 cache = %+v", other)
	}

	view := MemberCacheView(got)
	if ids, ok := view.CachedMembers("g2", lmu.In(time.FixedZone("X", 7200))); !ok || !reflect.DeepEqual(ids, []string{"u9"}) {
		t.Errorf("CachedMembers hit = %v %v", ids, ok)
	}
	if _, ok := view.CachedMembers("g2", lmu.Add(time.Millisecond)); ok {
		t.Errorf("CachedMembers must miss when lastMembershipUpdated moved")
	}
	if _, ok := view.CachedMembers("nope", lmu); ok {
		t.Errorf("CachedMembers must miss for an unknown group")
	}

	if err := s.ReplaceMemberCache(ctx, DefaultProfile, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.LoadMemberCache(ctx, DefaultProfile); len(got) != 0 {
		t.Errorf("after empty replace: %d groups", len(got))
	}
}

func TestUnpackRejectsCorruptData(t *testing.T) {
	good := packIDs(nil, []string{"abc", "de"})
	for i, b := range [][]byte{nil, {}, good[:len(good)-1], append(append([]byte{}, good...), 'x'), {5, 1, 'a'}} {
		if _, err := unpackIDs(b); err == nil {
			t.Errorf("case %d: corrupt data %v accepted", i, b)
		}
	}
	if ids, err := unpackIDs(good); err != nil || !reflect.DeepEqual(ids, []string{"abc", "de"}) {
		t.Errorf("good data: %v %v", ids, err)
	}
}

func bigCache(groups, members int) []CachedGroup {
	out := make([]CachedGroup, groups)
	lmu := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for g := range out {
		ids := make([]string, members)
		for m := range ids {
			ids[m] = fmt.Sprintf("00u%017d", g*members+m)
		}
		out[g] = CachedGroup{GroupID: fmt.Sprintf("00g%017d", g), LastMembershipUpdated: lmu, MemberIDs: ids}
	}
	return out
}

// TestMemberCacheLarge checks the 2,000 groups × 250 members case end to
// end (the benchmark measures its speed).
func TestMemberCacheLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large cache")
	}
	s := newStore(t)
	ctx := context.Background()
	groups := bigCache(2000, 250)
	start := time.Now()
	if err := s.ReplaceMemberCache(ctx, DefaultProfile, groups); err != nil {
		t.Fatal(err)
	}
	replace := time.Since(start)
	start = time.Now()
	got, err := s.LoadMemberCache(ctx, DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	load := time.Since(start)
	if len(got) != 2000 || len(got[groups[1999].GroupID].MemberIDs) != 250 || got[groups[5].GroupID].MemberIDs[249] != groups[5].MemberIDs[249] {
		t.Fatalf("large cache did not round-trip")
	}
	t.Logf("2000 groups × 250 members: replace %v, load %v", replace, load)
}

func BenchmarkReplaceMemberCache(b *testing.B) {
	s := newStore(b)
	ctx := context.Background()
	groups := bigCache(2000, 250)
	b.ResetTimer()
	for b.Loop() {
		if err := s.ReplaceMemberCache(ctx, DefaultProfile, groups); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadMemberCache(b *testing.B) {
	s := newStore(b)
	ctx := context.Background()
	if err := s.ReplaceMemberCache(ctx, DefaultProfile, bigCache(2000, 250)); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.LoadMemberCache(ctx, DefaultProfile); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSchedule(t *testing.T) {
	dir := t.TempDir()
	key := writeKey(t, dir, "k", randKey(t), "raw")
	path := dir + "/d.db"
	s := openAt(t, path, key)
	ctx := context.Background()
	if on, err := s.GetSchedule(ctx, DefaultProfile); err != nil || on {
		t.Errorf("default schedule = %v, %v", on, err)
	}
	for _, want := range []bool{true, false, true} {
		if err := s.SetSchedule(ctx, DefaultProfile, want); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetSchedule(ctx, DefaultProfile); err != nil || got != want {
			t.Errorf("schedule = %v, %v; want %v", got, err, want)
		}
	}
	s.Close()
	s2 := openAt(t, path, key)
	if got, err := s2.GetSchedule(ctx, DefaultProfile); err != nil || !got {
		t.Errorf("schedule after reopen = %v, %v; want true", got, err)
	}
	if got, _ := s2.GetSchedule(ctx, 2); got {
		t.Errorf("profile 2 schedule on")
	}
}
