package store

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/crypto/hkdf"
)

// KeyEnv names the environment variable that points at the master key file.
const KeyEnv = "DIRSYNC_SECRET_KEY_FILE"

// DefaultKeyFileName is the key file created next to the database when
// neither Options.KeyFile nor KeyEnv names one.
const DefaultKeyFileName = "secret.key"

const (
	masterKeyLen   = 32
	maxKeyFileSize = 4096
)

// KeyInfo describes the master key in use (never its value).
type KeyInfo struct {
	// Path is the key file's absolute path.
	Path string
	// Source is "option" (Options.KeyFile), "env" (DIRSYNC_SECRET_KEY_FILE)
	// or "default" (secret.key next to the database).
	Source string
	// Created is true when Open generated the key file.
	Created bool
	// Warning is non-empty when the key file is readable or writable by
	// group or others. dirsync warns (and logs) rather than refusing,
	// because mounted secrets (Docker, Kubernetes) are often 0644 inside a
	// private mount; tighten it with `chmod 600` where you can.
	Warning string
	// Mismatch is true when, at Open, the key did not open the stored
	// secrets (ErrKeyMismatch); LoadSettings then reports the error.
	Mismatch bool
}

type masterKey struct {
	raw  []byte
	aead cipher.AEAD
	info KeyInfo
}

// KeyInfo describes the master key in use.
func (s *Store) KeyInfo() KeyInfo { return s.key.info }

// DeriveKey returns n bytes derived from the master key with HKDF-SHA256
// for one purpose (e.g. "session-auth"); different purposes give
// independent keys, and the same purpose always gives the same key for the
// same master key. It panics if n is not in 1..8160 (a programming error).
func (s *Store) DeriveKey(purpose string, n int) []byte {
	return deriveKey(s.key.raw, "dirsync/derive/"+purpose, n)
}

func deriveKey(master []byte, info string, n int) []byte {
	if n <= 0 || n > 255*sha256.Size {
		panic(fmt.Sprintf("store: DeriveKey: invalid length %d", n))
	}
	out := make([]byte, n)
	if _, err := io.ReadFull(hkdf.New(sha256.New, master, nil, []byte(info)), out); err != nil {
		panic(fmt.Sprintf("store: DeriveKey: %v", err))
	}
	return out
}

// keySource says where the master key file is and who named it.
func keySource(dbPath, optFile string) (path, source string) {
	switch {
	case optFile != "":
		return optFile, "option"
	case os.Getenv(KeyEnv) != "":
		return os.Getenv(KeyEnv), "env"
	}
	return filepath.Join(filepath.Dir(dbPath), DefaultKeyFileName), "default"
}

// keyPathFor is the key file's path as the user should see it.
func keyPathFor(dbPath, optFile string) string {
	p, _ := keySource(dbPath, optFile)
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// loadMasterKey finds and reads the master key, creating the default key
// file when it is missing and create is true.
func loadMasterKey(dbPath, optFile string, create bool) (*masterKey, error) {
	info := KeyInfo{}
	info.Path, info.Source = keySource(dbPath, optFile)
	abs, err := filepath.Abs(info.Path)
	if err != nil {
		return nil, fmt.Errorf("store: secret key file %s: %w", info.Path, err)
	}
	info.Path = abs

	raw, err := readKeyFile(abs, &info)
	if errors.Is(err, os.ErrNotExist) && info.Source == "default" && create {
		raw, err = createKeyFile(abs)
		info.Created = err == nil
		if errors.Is(err, os.ErrExist) { // another process created it first
			raw, err = readKeyFile(abs, &info)
			info.Created = false
		}
	}
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(deriveKey(raw, "dirsync/secrets/aes-256-gcm/v1", 32))
	if err != nil {
		return nil, fmt.Errorf("store: secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("store: secret key: %w", err)
	}
	return &masterKey{raw: raw, aead: aead, info: info}, nil
}

func readKeyFile(path string, info *KeyInfo) ([]byte, error) {
	f, err := os.Open(path) //nolint:gosec // G304: the key file is the operator's setting
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("store: secret key file %s (from %s) does not exist: %w", path, sourceName(info.Source), err)
		}
		return nil, fmt.Errorf("store: read secret key file %s: %w", path, err)
	}
	defer func() { _ = f.Close() }() // only read
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("store: read secret key file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("store: secret key file %s is not a regular file", path)
	}
	if fi.Size() > maxKeyFileSize {
		return nil, fmt.Errorf("store: secret key file %s is too large (%d bytes); it must hold 32 random bytes (raw, base64 or hex)", path, fi.Size())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		info.Warning = fmt.Sprintf("the secret key file is accessible by group or others (mode %04o); run chmod 600 on it", perm)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("store: read secret key file %s: %w", path, err)
	}
	key, err := parseKey(b)
	if err != nil {
		return nil, fmt.Errorf("store: secret key file %s: %w", path, err)
	}
	return key, nil
}

func sourceName(src string) string {
	switch src {
	case "env":
		return KeyEnv
	case "option":
		return "the key file option"
	}
	return "the default location"
}

// parseKey accepts 32 raw bytes, or text holding them as hex (64 digits)
// or base64 (standard or URL alphabet, padded or not). It never puts key
// material in its error.
func parseKey(b []byte) ([]byte, error) {
	if len(b) == masterKeyLen {
		return bytes.Clone(b), nil
	}
	t := string(bytes.TrimSpace(b))
	if len(t) == 2*masterKeyLen {
		if k, err := hex.DecodeString(t); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(t); err == nil && len(k) == masterKeyLen {
			return k, nil
		}
	}
	return nil, fmt.Errorf("must hold exactly 32 random bytes: raw, or as text in base64 (44 characters) or hex (64 digits); it has %d bytes that are none of these", len(b))
}

// createKeyFile writes a new random key (base64 text, mode 0600) without
// ever exposing a half-written file: it is written to a temporary file and
// hard-linked into place, which fails if the file appeared meanwhile.
// A rename-based atomic write (natefinch/atomic, renameio) would instead
// replace a key another process created a moment earlier — and had
// perhaps already sealed secrets with — so the no-clobber link stays.
func createKeyFile(path string) ([]byte, error) {
	key := make([]byte, masterKeyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("store: generate secret key: %w", err)
	}
	text := []byte(base64.StdEncoding.EncodeToString(key) + "\n")
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create secret key folder: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".secret.key-*")
	if err != nil {
		return nil, fmt.Errorf("store: create secret key file: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // gone already once linked
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close() // the write's error is the one reported
		return nil, fmt.Errorf("store: create secret key file: %w", err)
	}
	if _, err := tmp.Write(text); err != nil {
		_ = tmp.Close() // the write's error is the one reported
		return nil, fmt.Errorf("store: write secret key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close() // the write's error is the one reported
		return nil, fmt.Errorf("store: write secret key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("store: write secret key file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, err
		}
		// No hard links on this filesystem: exclusive create instead.
		f, ferr := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) //nolint:gosec // G304: the key file is the operator's setting
		if ferr != nil {
			if errors.Is(ferr, os.ErrExist) {
				return nil, ferr
			}
			return nil, fmt.Errorf("store: create secret key file %s: %w", path, ferr)
		}
		if _, err := f.Write(text); err != nil {
			_ = f.Close() // the write's error is the one reported
			return nil, fmt.Errorf("store: write secret key file %s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("store: write secret key file %s: %w", path, err)
		}
	}
	return key, nil
}

// secretAD binds a sealed secret to its row.
func secretAD(profileID int64, name string) []byte {
	return fmt.Appendf(nil, "profile:%d:%s", profileID, name)
}

func (k *masterKey) seal(ad, plaintext []byte) (nonce, ciphertext []byte, err error) {
	nonce = make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, fmt.Errorf("store: seal secret: %w", err)
	}
	return nonce, k.aead.Seal(nil, nonce, plaintext, ad), nil
}

func (k *masterKey) open(ad, nonce, ciphertext []byte) ([]byte, error) {
	if len(nonce) != k.aead.NonceSize() {
		return nil, ErrKeyMismatch
	}
	pt, err := k.aead.Open(nil, nonce, ciphertext, ad)
	if err != nil {
		return nil, ErrKeyMismatch
	}
	return pt, nil
}

type secretRow struct {
	ProfileID  int64  `db:"profile_id"`
	Name       string `db:"name"`
	Nonce      []byte `db:"nonce"`
	Ciphertext []byte `db:"ciphertext"`
}

// checkKey tries to open every stored secret.
func (s *Store) checkKey(ctx context.Context) error {
	var rows []secretRow
	if err := s.r.SelectContext(ctx, &rows, `SELECT profile_id, name, nonce, ciphertext FROM secrets`); err != nil {
		return fmt.Errorf("store: check secret key: %w", err)
	}
	for _, r := range rows {
		if _, err := s.key.open(secretAD(r.ProfileID, r.Name), r.Nonce, r.Ciphertext); err != nil {
			return fmt.Errorf("store: profile %d secret %s: %w", r.ProfileID, r.Name, err)
		}
	}
	return nil
}
