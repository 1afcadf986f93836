package directory

import (
	"errors"
	"strings"
	"testing"
)

func TestParseFilterAccepted(t *testing.T) {
	tests := []struct {
		in     string
		mode   SetMode
		values []string
		native string
	}{
		{"", SetNone, nil, ""},
		{"   ", SetNone, nil, ""},
		{"include:a@x.com", SetInclude, []string{"a@x.com"}, ""},
		{"INCLUDE: B@x.com , a@x.com,,a@X.com ", SetInclude, []string{"a@x.com", "b@x.com"}, ""},
		{"Exclude:Contractors,Temps", SetExclude, []string{"contractors", "temps"}, ""},
		{`|type eq "APP_GROUP"`, SetNone, nil, `type eq "APP_GROUP"`},
		{`  | status eq "ACTIVE"  `, SetNone, nil, `status eq "ACTIVE"`},
		{`include:Engineering | type eq "OKTA_GROUP"`, SetInclude, []string{"engineering"}, `type eq "OKTA_GROUP"`},
		{`exclude:a|profile.lastName eq "x|y"`, SetExclude, []string{"a"}, `profile.lastName eq "x|y"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			f, err := ParseFilter(tt.in)
			if err != nil {
				t.Fatalf("ParseFilter(%q): %v", tt.in, err)
			}
			if f.Mode != tt.mode || f.Native != tt.native || strings.Join(f.Values, "|") != strings.Join(tt.values, "|") {
				t.Fatalf("ParseFilter(%q) = mode %v values %q native %q; want %v %q %q", tt.in, f.Mode, f.Values, f.Native, tt.mode, tt.values, tt.native)
			}
		})
	}
}

func TestParseFilterRejected(t *testing.T) {
	tests := []struct{ in, want string }{
		{"foo:a", `unknown keyword "foo"`},
		{"include:a:b", "second ':'"},
		{`status eq "ACTIVE"`, "put a '|' in front"},
		{"engineering", "no 'include:' or 'exclude:'"},
		{`include:a | status eq "ACTIVE" | extra`, "second '|'"},
		{"include:a|", "nothing follows the '|'"},
		{"include:", "lists no values"},
		{"exclude: , ,", "lists no values"},
		{`|status eq "ACTIVE`, "unclosed double quote"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseFilter(tt.in)
			if err == nil {
				t.Fatalf("ParseFilter(%q) accepted a malformed filter", tt.in)
			}
			if !errors.Is(err, ErrFilter) {
				t.Errorf("error %v is not ErrFilter", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not say %q", msg, tt.want)
			}
			if !strings.Contains(msg, "accepted forms") {
				t.Errorf("error %q does not show the accepted forms", msg)
			}
		})
	}
}

func TestFilterKeeps(t *testing.T) {
	inc := MustParseFilter("include:A@x.com,b@x.com")
	exc := MustParseFilter("exclude:Temps")
	none := MustParseFilter(`|status eq "ACTIVE"`)
	cases := []struct {
		f    Filter
		v    string
		want bool
	}{
		{inc, "a@x.com", true}, {inc, " A@X.COM ", true}, {inc, "c@x.com", false}, {inc, "a@x.co", false},
		{exc, "temps", false}, {exc, "TEMPS", false}, {exc, "Engineering", true},
		{none, "anything", true}, {Filter{}, "", true},
		// A Filter built by hand (no parsed set) still matches.
		{Filter{Mode: SetInclude, Values: []string{"x"}}, "X", true},
	}
	for _, c := range cases {
		if got := c.f.Keeps(c.v); got != c.want {
			t.Errorf("%q.Keeps(%q) = %v, want %v", c.f.String(), c.v, got, c.want)
		}
	}
}

// FuzzParseFilter checks that the parser never panics and that whatever it
// accepts survives a round trip through String.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"", "include:a,b", "exclude:x|type eq \"APP_GROUP\"", "|status eq \"ACTIVE\"", "foo:a", "include:a:b", "a|b|c", "include:\"|\""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseFilter(s)
		if err != nil {
			if !errors.Is(err, ErrFilter) {
				t.Fatalf("error %v is not ErrFilter", err)
			}
			return
		}
		again, err := ParseFilter(got.String())
		if err != nil {
			t.Fatalf("ParseFilter(%q) ok but its String %q does not parse: %v", s, got.String(), err)
		}
		if again.String() != got.String() || again.Mode != got.Mode || again.Native != got.Native {
			t.Fatalf("round trip of %q changed it: %q → %q", s, got.String(), again.String())
		}
		for _, v := range got.Values {
			if got.Mode == SetInclude && !got.Keeps(v) || got.Mode == SetExclude && got.Keeps(v) {
				t.Fatalf("filter %q does not apply its own value %q", got.String(), v)
			}
		}
	})
}
