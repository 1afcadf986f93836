package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestAdmins(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if n, err := s.CountAdmins(ctx); err != nil || n != 0 {
		t.Fatalf("CountAdmins = %d, %v", n, err)
	}
	a, err := s.CreateAdmin(ctx, " alice ", "$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$aGFzaA")
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == 0 || a.Username != "alice" || a.CreatedAt.IsZero() || a.LastLoginAt != nil {
		t.Errorf("created = %+v", a)
	}
	for _, name := range []string{"alice", "ALICE", " Alice"} {
		if _, err := s.CreateAdmin(ctx, name, "h"); !errors.Is(err, ErrExists) {
			t.Errorf("CreateAdmin(%q) duplicate: %v, want ErrExists", name, err)
		}
	}
	if _, err := s.CreateAdmin(ctx, "", "h"); err == nil {
		t.Errorf("empty username accepted")
	}
	if _, err := s.CreateAdmin(ctx, "bob", "h2"); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.CountAdmins(ctx); n != 2 {
		t.Errorf("CountAdmins = %d, want 2", n)
	}
	got, err := s.GetAdmin(ctx, "Alice")
	if err != nil || got.ID != a.ID || got.PasswordHash != a.PasswordHash || !got.CreatedAt.Equal(a.CreatedAt) {
		t.Errorf("GetAdmin = %+v, %v", got, err)
	}
	if _, err := s.GetAdmin(ctx, "carol"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetAdmin missing: %v", err)
	}
	if err := s.SetAdminPassword(ctx, "alice", "new-hash"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetAdmin(ctx, "alice"); got.PasswordHash != "new-hash" {
		t.Errorf("password not changed: %q", got.PasswordHash)
	}
	if b, _ := s.GetAdmin(ctx, "bob"); b.PasswordHash != "h2" {
		t.Errorf("other admin's password changed")
	}
	if err := s.SetAdminPassword(ctx, "carol", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetAdminPassword missing: %v", err)
	}
	at := time.Date(2024, 2, 3, 4, 5, 6, 7, time.UTC)
	if err := s.TouchAdminLogin(ctx, a.ID, at); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetAdmin(ctx, "alice"); got.LastLoginAt == nil || !got.LastLoginAt.Equal(at) {
		t.Errorf("LastLoginAt = %v", got.LastLoginAt)
	}
	if err := s.TouchAdminLogin(ctx, 999, at); !errors.Is(err, ErrNotFound) {
		t.Errorf("TouchAdminLogin missing: %v", err)
	}
}

func TestAudit(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	clock := &fakeClock{t: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	s.now = clock.now
	for i := range 5 {
		clock.add(time.Second)
		if err := s.AddAudit(ctx, AuditEntry{Actor: "alice", Action: fmt.Sprintf("action-%d", i), Detail: "d", RemoteAddr: "127.0.0.1"}); err != nil {
			t.Fatal(err)
		}
	}
	explicit := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.AddAudit(ctx, AuditEntry{At: explicit, Actor: "cli", Action: "action-5"}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		limit, offset int
		want          []string
	}{
		{2, 0, []string{"action-5", "action-4"}},
		{2, 4, []string{"action-1", "action-0"}},
		{10, 5, []string{"action-0"}},
		{10, 6, nil},
	}
	for _, tc := range cases {
		entries, total, err := s.ListAudit(ctx, tc.limit, tc.offset)
		if err != nil {
			t.Fatal(err)
		}
		if total != 6 {
			t.Errorf("total = %d", total)
		}
		var got []string
		for _, e := range entries {
			got = append(got, e.Action)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("limit %d offset %d: %v, want %v", tc.limit, tc.offset, got, tc.want)
		}
	}
	entries, _, _ := s.ListAudit(ctx, 10, 0)
	if !entries[0].At.Equal(explicit) || !entries[5].At.Equal(clock.t.Add(-4*time.Second)) || entries[5].RemoteAddr != "127.0.0.1" || entries[5].Actor != "alice" {
		t.Errorf("entries = %+v", entries)
	}
}
