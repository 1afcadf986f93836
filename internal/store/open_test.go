package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenMustExistCreatesNothing: a mistyped path given to a command that
// only reads is an error naming the path, and leaves no folder, database or
// key behind.
func TestOpenMustExistCreatesNothing(t *testing.T) {
	t.Setenv(KeyEnv, "")
	dir := filepath.Join(t.TempDir(), "typo")
	db := filepath.Join(dir, "dirsync.db")
	_, err := Open(context.Background(), db, Options{MustExist: true})
	if !errors.Is(err, ErrNoDatabase) || !strings.Contains(err.Error(), db) {
		t.Fatalf("Open(MustExist) of a missing database = %v, want ErrNoDatabase naming %s", err, db)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open(MustExist) created %s (%v)", dir, err)
	}

	// An existing database without its key: still nothing created.
	s, err := Open(context.Background(), db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	key := filepath.Join(dir, DefaultKeyFileName)
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), db, Options{MustExist: true}); err == nil || !strings.Contains(err.Error(), key) {
		t.Fatalf("Open(MustExist) without a key = %v, want an error naming %s", err, key)
	}
	if _, err := os.Stat(key); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open(MustExist) created a key (%v)", err)
	}
	// Without secrets stored, an ordinary Open may create a new key.
	s, err = Open(context.Background(), db, Options{})
	if err != nil {
		t.Fatalf("Open of a database without secrets and without a key: %v", err)
	}
	s.Close()
}

// TestOpenRefusesNewKeyBesideSealedSecrets: a key file lost next to a
// database holding sealed secrets is an error, never a fresh key (which
// would make the stored secrets unreadable for good).
func TestOpenRefusesNewKeyBesideSealedSecrets(t *testing.T) {
	t.Setenv(KeyEnv, "")
	dir := t.TempDir()
	db := filepath.Join(dir, "dirsync.db")
	s, err := Open(context.Background(), db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SaveSettings(context.Background(), DefaultProfile, sampleSettings()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	key := filepath.Join(dir, DefaultKeyFileName)
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), db, Options{})
	if !errors.Is(err, ErrKeyMissing) || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "restore") {
		t.Fatalf("Open with the key gone = %v, want ErrKeyMissing naming %s and saying to restore it", err, key)
	}
	if _, err := os.Stat(key); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a new key was created beside sealed secrets (%v)", err)
	}
}
