package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestHashVerify(t *testing.T) {
	h, err := Hash("correct horse battery", TestParams)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q is not a PHC argon2id string", h)
	}
	if err := Verify("correct horse battery", h); err != nil {
		t.Fatalf("Verify(right) = %v", err)
	}
	if err := Verify("correct horse batterz", h); !errors.Is(err, ErrMismatch) {
		t.Fatalf("Verify(wrong) = %v, want ErrMismatch", err)
	}
	h2, _ := Hash("correct horse battery", TestParams)
	if h == h2 {
		t.Fatal("two hashes of one password are equal; salt is not random")
	}
}

func TestDefaultParamsFormat(t *testing.T) {
	h, err := Hash("x", DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	p, salt, key, err := Decode(h)
	if err != nil {
		t.Fatal(err)
	}
	if p.Memory != 19456 || p.Time != 2 || p.Threads != 1 || len(salt) != 16 || len(key) != 32 {
		t.Fatalf("decoded %+v salt %d key %d", p, len(salt), len(key))
	}
	if NeedsRehash(h, DefaultParams) {
		t.Fatal("default hash needs rehash under default params")
	}
	th, _ := Hash("x", TestParams)
	if !NeedsRehash(th, DefaultParams) {
		t.Fatal("cheap hash does not need rehash under default params")
	}
}

func TestDecodeErrors(t *testing.T) {
	good, _ := Hash("pw", TestParams)
	parts := strings.Split(good, "$")
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "want 5"},
		{"bcrypt", "$2a$10$abcdefghijklmnopqrstuv", "want 5"},
		{"argon2i", "$argon2i$" + strings.Join(parts[2:], "$"), `algorithm "argon2i"`},
		{"version", "$argon2id$v=16$" + strings.Join(parts[3:], "$"), "version 16"},
		{"bad version", "$argon2id$x$" + strings.Join(parts[3:], "$"), "version field"},
		{"not kv", "$argon2id$v=19$m64,t=1,p=1$" + strings.Join(parts[4:], "$"), "not key=value"},
		{"nan", "$argon2id$v=19$m=a,t=1,p=1$" + strings.Join(parts[4:], "$"), "not a number"},
		{"unknown", "$argon2id$v=19$m=64,t=1,p=1,x=2$" + strings.Join(parts[4:], "$"), "unknown parameter"},
		{"missing p", "$argon2id$v=19$m=64,t=1$" + strings.Join(parts[4:], "$"), "must include"},
		{"huge memory", "$argon2id$v=19$m=4000000,t=1,p=1$" + strings.Join(parts[4:], "$"), "memory"},
		{"bad salt", "$argon2id$v=19$m=64,t=1,p=1$!!!$" + parts[5], "salt"},
		{"bad key", "$argon2id$v=19$m=64,t=1,p=1$" + parts[4] + "$!!!", "hash is not"},
		{"short key", "$argon2id$v=19$m=64,t=1,p=1$" + parts[4] + "$AAAA", "key length"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify("pw", tc.in)
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("err = %v, want ErrMalformedHash", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestHashRejectsBadParams(t *testing.T) {
	for _, p := range []Params{{}, {Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32}, {Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32}} {
		if _, err := Hash("pw", p); err == nil {
			t.Errorf("Hash with %+v succeeded", p)
		}
	}
}

func TestCheckPassword(t *testing.T) {
	tests := []struct {
		pw, user, want string
	}{
		{"short", "", "at least 12 characters long (it has 5)"},
		{"ééééééééééé", "", "at least 12"}, // 11 runes, 22 bytes
		{strings.Repeat("ab", 129), "", "at most 256"},
		{"aaaaaaaaaaaaaaaa", "", "repeat a single"},
		{"twelve chars\tx", "", "control characters"},
		{"Administrator", "administrator", "not be the user name"},
		{"\xff\xfe invalid utf8 here", "", "invalid characters"},
		{"a good long passphrase", "admin", ""},
		{strings.Repeat("ab", 128), "", ""},
		{"éééééééééééé1", "", ""},
	}
	for _, tc := range tests {
		err := CheckPassword(tc.pw, tc.user)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckPassword(%q) = %v, want nil", tc.pw, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("CheckPassword(%q) = %v, want %q", tc.pw, err, tc.want)
		}
	}
}

func TestCheckUsername(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		want string
	}{
		{"admin", true, ""},
		{"a.b_c@x.com", true, ""},
		{"", false, "required"},
		{"a b", false, "only letters"},
		{strings.Repeat("a", 65), false, "at most 64"},
	}
	for _, tc := range tests {
		err := CheckUsername(NormalizeUsername(tc.in))
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("CheckUsername(%q) = %v", tc.in, err)
		}
	}
	if NormalizeUsername("  Admin ") != "admin" {
		t.Error("NormalizeUsername does not trim and lower-case")
	}
}

// BenchmarkVerifyDefault measures one login's hashing cost.
func BenchmarkVerifyDefault(b *testing.B) {
	h, err := Hash("a long enough passphrase", DefaultParams)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := Verify("a long enough passphrase", h); err != nil {
			b.Fatal(err)
		}
	}
}
