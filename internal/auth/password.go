// Package auth holds the console's credential rules: argon2id password
// hashes in PHC string form and the password policy. It knows nothing
// about HTTP or storage (the failed-login throttle is in the store).
package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters.
type Params struct {
	// Memory is in KiB.
	Memory uint32
	// Time is the number of passes.
	Time uint32
	// Threads is the degree of parallelism.
	Threads uint8
	// SaltLen and KeyLen are in bytes.
	SaltLen uint32
	KeyLen  uint32
}

// DefaultParams follow OWASP's first argon2id recommendation
// (m=19456 KiB, t=2, p=1) with a 16-byte salt and a 32-byte key.
var DefaultParams = Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// TestParams are deliberately cheap so tests that create admins stay fast.
// Never use them outside tests.
var TestParams = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// Limits on parameters read back from a stored hash, so a tampered row
// cannot make a login allocate gigabytes.
const (
	maxMemory  = 1 << 21 // 2 GiB in KiB
	maxTime    = 64
	maxKeyLen  = 128
	maxSaltLen = 128
)

// ErrMalformedHash is returned (wrapped) when a stored hash cannot be parsed.
var ErrMalformedHash = errors.New("malformed password hash")

// ErrMismatch is returned by Verify when the password is wrong.
var ErrMismatch = errors.New("password does not match")

var b64 = base64.RawStdEncoding

func (p Params) valid() error {
	switch {
	case p.Memory < 8*uint32(max(p.Threads, 1)) || p.Memory > maxMemory:
		return fmt.Errorf("argon2 memory %d KiB out of range", p.Memory)
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("argon2 time %d out of range", p.Time)
	case p.Threads < 1:
		return errors.New("argon2 threads must be at least 1")
	case p.SaltLen < 8 || p.SaltLen > maxSaltLen:
		return fmt.Errorf("argon2 salt length %d out of range", p.SaltLen)
	case p.KeyLen < 16 || p.KeyLen > maxKeyLen:
		return fmt.Errorf("argon2 key length %d out of range", p.KeyLen)
	}
	return nil
}

// Hash derives an argon2id hash of password with a fresh random salt and
// returns it as a PHC string: $argon2id$v=19$m=…,t=…,p=…$salt$hash.
func Hash(password string, p Params) (string, error) {
	if err := p.valid(); err != nil {
		return "", fmt.Errorf("auth: hash: %w", err)
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: hash: read salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether password matches the PHC-encoded hash: nil on a
// match, ErrMismatch on a wrong password, and an error wrapping
// ErrMalformedHash when the hash cannot be read. The comparison is
// constant-time.
func Verify(password, encoded string) error {
	p, salt, key, err := Decode(encoded)
	if err != nil {
		return err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return ErrMismatch
	}
	return nil
}

// NeedsRehash reports whether encoded was made with weaker parameters
// than p (so it can be upgraded after a successful login).
func NeedsRehash(encoded string, p Params) bool {
	q, _, _, err := Decode(encoded)
	if err != nil {
		return true
	}
	return q.Memory < p.Memory || q.Time < p.Time || q.KeyLen < p.KeyLen
}

// Decode parses a PHC argon2id string into its parameters, salt and key.
// Errors wrap ErrMalformedHash and say which part is wrong; they never
// include the hash itself.
func Decode(encoded string) (Params, []byte, []byte, error) {
	fail := func(format string, a ...any) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, fmt.Errorf("auth: %w: %s", ErrMalformedHash, fmt.Sprintf(format, a...))
	}
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, hash
	if len(parts) != 6 || parts[0] != "" {
		return fail("want 5 '$'-separated fields, got %d", len(parts)-1)
	}
	if parts[1] != "argon2id" {
		return fail("algorithm %q is not argon2id", parts[1])
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil {
		return fail("version field %q is not v=<number>", parts[2])
	}
	if version != argon2.Version {
		return fail("argon2 version %d is not supported (want %d)", version, argon2.Version)
	}
	var p Params
	seen := map[string]bool{}
	for kv := range strings.SplitSeq(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fail("parameter %q is not key=value", kv)
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return fail("parameter %s=%q is not a number", k, v)
		}
		switch k {
		case "m":
			p.Memory = uint32(n)
		case "t":
			p.Time = uint32(n)
		case "p":
			if n > 255 {
				return fail("parallelism %d is too large", n)
			}
			p.Threads = uint8(n)
		default:
			return fail("unknown parameter %q", k)
		}
		seen[k] = true
	}
	if !seen["m"] || !seen["t"] || !seen["p"] {
		return fail("parameters must include m, t and p")
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return fail("salt is not unpadded base64")
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil {
		return fail("hash is not unpadded base64")
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	if err := p.valid(); err != nil {
		return fail("%v", err)
	}
	return p, salt, key, nil
}
