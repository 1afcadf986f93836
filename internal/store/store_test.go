package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// openAt opens a store at path with an explicit key file (so tests do not
// depend on the environment).
func openAt(t testing.TB, path, keyFile string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, Options{KeyFile: keyFile})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newStore opens a fresh store in a temp dir with its own key file.
func newStore(t testing.TB) *Store {
	t.Helper()
	dir := t.TempDir()
	return openAt(t, filepath.Join(dir, "dirsync.db"), writeKey(t, dir, "k.key", randKey(t), "base64"))
}

func randKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func writeKey(t testing.TB, dir, name string, key []byte, format string) string {
	t.Helper()
	var b []byte
	switch format {
	case "raw":
		b = key
	case "hex":
		b = []byte(hex.EncodeToString(key) + "\n")
	case "base64":
		b = []byte(base64.StdEncoding.EncodeToString(key) + "\n")
	case "base64url":
		b = []byte("  " + base64.RawURLEncoding.EncodeToString(key) + "\r\n")
	default:
		b = key
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// fakeClock is a settable clock for lease expiry.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestOpenCreatesFoldersAndKey(t *testing.T) {
	t.Setenv(KeyEnv, "")
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "a", "b", "dirsync.db")
	s, err := Open(context.Background(), dbPath, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	for _, d := range []string{filepath.Join(dir, "a"), filepath.Join(dir, "a", "b")} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o700 {
			t.Errorf("%s mode = %04o, want 0700", d, got)
		}
	}
	keyPath := filepath.Join(dir, "a", "b", DefaultKeyFileName)
	fi, err := os.Stat(keyPath)
	if err != nil {
		t.Fatalf("key file: %v", err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("key file mode = %04o, want 0600", got)
	}
	info := s.KeyInfo()
	if !info.Created || info.Source != "default" || info.Path != keyPath || info.Warning != "" || info.Mismatch {
		t.Errorf("KeyInfo = %+v", info)
	}
	if s.Path() != dbPath {
		t.Errorf("Path = %q, want %q", s.Path(), dbPath)
	}
	if ok, err := s.MigrationsCurrent(context.Background()); err != nil || !ok {
		t.Errorf("MigrationsCurrent = %v, %v", ok, err)
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	d1 := s.DeriveKey("session-auth", 64)
	if len(d1) != 64 || bytes.Equal(d1, s.DeriveKey("session-enc", 64)[:64]) {
		t.Errorf("DeriveKey: purposes must give different keys")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Leftover temp files from the key creation must not remain.
	ents, _ := os.ReadDir(filepath.Dir(keyPath))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".secret.key-") {
			t.Errorf("temp key file left behind: %s", e.Name())
		}
	}

	s2, err := Open(context.Background(), dbPath, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s2.Close()
	if s2.KeyInfo().Created {
		t.Errorf("reopen created a new key")
	}
	if !bytes.Equal(s2.DeriveKey("session-auth", 64), d1) {
		t.Errorf("reopen: derived key differs; the key file was not reused")
	}
}

func TestKeyFileFormats(t *testing.T) {
	dir := t.TempDir()
	key := randKey(t)
	var want []byte
	for _, format := range []string{"raw", "hex", "base64", "base64url"} {
		t.Run(format, func(t *testing.T) {
			kf := writeKey(t, dir, format+".key", key, format)
			s := openAt(t, filepath.Join(dir, format+".db"), kf)
			got := s.DeriveKey("x", 32)
			if want == nil {
				want = got
			} else if !bytes.Equal(got, want) {
				t.Errorf("format %s gives a different key than raw", format)
			}
			if s.KeyInfo().Source != "option" {
				t.Errorf("Source = %q", s.KeyInfo().Source)
			}
		})
	}
}

func TestKeyFromEnv(t *testing.T) {
	dir := t.TempDir()
	kf := writeKey(t, dir, "env.key", randKey(t), "hex")
	t.Setenv(KeyEnv, kf)
	s, err := Open(context.Background(), filepath.Join(dir, "db", "x.db"), Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if info := s.KeyInfo(); info.Source != "env" || info.Path != kf || info.Created {
		t.Errorf("KeyInfo = %+v", info)
	}
	if _, err := os.Stat(filepath.Join(dir, "db", DefaultKeyFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a default key file was created although %s is set (stat err %v)", KeyEnv, err)
	}
	// Options.KeyFile overrides the environment.
	other := writeKey(t, dir, "other.key", randKey(t), "raw")
	s2 := openAt(t, filepath.Join(dir, "y.db"), other)
	if s2.KeyInfo().Path != other {
		t.Errorf("Options.KeyFile did not override the env: %+v", s2.KeyInfo())
	}
}

func TestKeyFileErrors(t *testing.T) {
	dir := t.TempDir()
	secretText := "this-is-not-a-key-but-private-text"
	cases := []struct {
		name    string
		content []byte
		missing bool
		want    string
	}{
		{name: "missing", missing: true, want: "does not exist"},
		{name: "empty", content: []byte{}, want: "32 random bytes"},
		{name: "short raw", content: bytes.Repeat([]byte{1}, 31), want: "32 random bytes"},
		{name: "long raw", content: bytes.Repeat([]byte{1}, 33), want: "32 random bytes"},
		{name: "garbage text", content: []byte(secretText), want: "32 random bytes"},
		{name: "base64 of 16 bytes", content: []byte(base64.StdEncoding.EncodeToString(make([]byte, 16))), want: "32 random bytes"},
		{name: "too large", content: bytes.Repeat([]byte("a"), 5000), want: "too large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			kf := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".key")
			if !tc.missing {
				if err := os.WriteFile(kf, tc.content, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			t.Setenv(KeyEnv, kf)
			s, err := Open(context.Background(), filepath.Join(dir, "db.sqlite"), Options{})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded with a bad key file")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secretText) {
				t.Errorf("error leaks the key file content: %q", err)
			}
		})
	}
}

func TestKeyFilePermissionWarning(t *testing.T) {
	dir := t.TempDir()
	kf := writeKey(t, dir, "k.key", randKey(t), "base64")
	if err := os.Chmod(kf, 0o644); err != nil {
		t.Fatal(err)
	}
	s := openAt(t, filepath.Join(dir, "x.db"), kf)
	if w := s.KeyInfo().Warning; !strings.Contains(w, "chmod 600") {
		t.Errorf("Warning = %q, want advice to chmod 600", w)
	}
}

func TestDeriveKeyPanicsOnBadLength(t *testing.T) {
	s := newStore(t)
	for _, n := range []int{0, -1, 255*32 + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("DeriveKey(%d) did not panic", n)
				}
			}()
			s.DeriveKey("p", n)
		}()
	}
}

func TestDSNSurvivesOddPaths(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "with space", "q?and#hash%25")
	s := openAt(t, filepath.Join(dir, "d b.db"), writeKey(t, t.TempDir(), "k", randKey(t), "raw"))
	if err := s.SetSchedule(context.Background(), DefaultProfile, true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "d b.db")); err != nil {
		t.Errorf("database not at the given path: %v", err)
	}
}

func TestTimesRoundTripExactly(t *testing.T) {
	in := time.Date(2024, 3, 1, 10, 11, 12, 123456789, time.FixedZone("X", 3600))
	got, err := parseTime(fmtTime(in))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(in) || got.Location() != time.UTC {
		t.Errorf("round trip %v -> %v", in, got)
	}
	// Fixed width: text order is time order.
	a, b := fmtTime(time.Unix(10, 0)), fmtTime(time.Unix(10, 500))
	if len(a) != len(b) || !(a < b) {
		t.Errorf("not fixed-width/sortable: %q %q", a, b)
	}
}

// TestConcurrentFirstOpen opens one new database from several "processes"
// at once: they must agree on one key file and one schema.
func TestConcurrentFirstOpen(t *testing.T) {
	t.Setenv(KeyEnv, "")
	path := filepath.Join(t.TempDir(), "new", "d.db")
	const n = 4
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = Open(context.Background(), path, Options{}) })
	}
	wg.Wait()
	created := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Open %d: %v", i, errs[i])
		}
		defer stores[i].Close()
		if stores[i].KeyInfo().Created {
			created++
		}
		if !bytes.Equal(stores[i].DeriveKey("k", 16), stores[0].DeriveKey("k", 16)) {
			t.Errorf("store %d uses a different key", i)
		}
		if ok, err := stores[i].MigrationsCurrent(context.Background()); !ok || err != nil {
			t.Errorf("store %d migrations: %v %v", i, ok, err)
		}
	}
	if created != 1 {
		t.Errorf("%d opens created the key, want exactly 1", created)
	}
}
