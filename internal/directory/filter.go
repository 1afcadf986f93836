package directory

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// SetMode says how a filter's include/exclude set is applied.
type SetMode int

// The set modes of the BDC filter grammar.
const (
	SetNone SetMode = iota
	SetInclude
	SetExclude
)

// String names the mode as it is written in a filter.
func (m SetMode) String() string {
	switch m {
	case SetInclude:
		return "include"
	case SetExclude:
		return "exclude"
	default:
		return ""
	}
}

// Filter is a parsed user or group filter:
//
//	[include|exclude]:v1,v2,… [| native Okta filter]
//
// The set part matches emails (users) or names (groups) exactly and
// case-insensitively; the native part is sent to the directory as-is.
type Filter struct {
	Mode SetMode
	// Values are trimmed, lower-cased, de-duplicated and sorted.
	Values []string
	// Native is the expression after the first '|', trimmed; empty if none.
	Native string
	set    map[string]struct{}
}

// FilterHelp shows the accepted forms; every parse error ends with it.
const FilterHelp = `accepted forms: "include:a@x.com,b@x.com", "exclude:Contractors,Temps", ` +
	`"include:Engineering | type eq \"OKTA_GROUP\"", or only a native Okta filter after a leading bar: ` +
	`"| status eq \"ACTIVE\""`

// FilterError is a filter that cannot be parsed.
type FilterError struct {
	Input  string
	Reason string
}

func (e *FilterError) Error() string {
	return fmt.Sprintf("invalid filter %q: %s; %s", e.Input, e.Reason, FilterHelp)
}

// ErrFilter matches every *FilterError with errors.Is.
var ErrFilter = errors.New("invalid filter")

// Is lets errors.Is(err, ErrFilter) match.
func (e *FilterError) Is(target error) bool { return target == ErrFilter }

// ParseBDCFilter is ParseFilter in FilterSyntax.Parse's shape (the same
// grammar for users and groups): the Parse of every type that takes BDC's
// include/exclude filters, and the fallback of settings naming no type.
func ParseBDCFilter(expr string, _ bool) (Filter, error) { return ParseFilter(expr) }

// ParseFilter parses the BDC filter grammar. Unlike BDC, which silently
// ignores what it cannot parse (and so syncs everyone), it rejects every
// malformed filter with the reason.
func ParseFilter(s string) (Filter, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return Filter{}, nil
	}
	fail := func(format string, a ...any) (Filter, error) {
		return Filter{}, &FilterError{Input: s, Reason: fmt.Sprintf(format, a...)}
	}
	setPart, native, hasBar := strings.Cut(in, "|")
	setPart = strings.TrimSpace(setPart)
	native = strings.TrimSpace(native)
	var f Filter
	if hasBar {
		if native == "" {
			return fail("nothing follows the '|'; remove it or add a native Okta filter after it")
		}
		if i := indexUnquoted(native, '|'); i >= 0 {
			return fail("a second '|' at %q; only one native filter may follow the first '|'", native[i:])
		}
		if strings.Count(native, `"`)%2 != 0 {
			return fail("the native filter %q has an unclosed double quote", native)
		}
		if strings.ContainsAny(native, "\r\n") {
			return fail("the native filter must be on one line")
		}
		f.Native = native
	}
	if setPart == "" {
		if !hasBar {
			return Filter{}, nil
		}
		return f, nil
	}
	keyword, list, hasColon := strings.Cut(setPart, ":")
	if !hasColon {
		if looksNative(setPart) {
			return fail("%q looks like a native Okta filter; put a '|' in front of it", setPart)
		}
		return fail("%q has no 'include:' or 'exclude:' keyword", setPart)
	}
	switch strings.ToLower(strings.TrimSpace(keyword)) {
	case "include":
		f.Mode = SetInclude
	case "exclude":
		f.Mode = SetExclude
	default:
		return fail("unknown keyword %q; use include or exclude", strings.TrimSpace(keyword))
	}
	if strings.Contains(list, ":") {
		return fail("a second ':' in %q; write one keyword followed by a comma-separated list", setPart)
	}
	seen := map[string]struct{}{}
	for v := range strings.SplitSeq(list, ",") {
		v = strings.ToLower(strings.TrimSpace(v))
		if v == "" {
			continue
		}
		if _, dup := seen[v]; dup {
			continue
		}
		seen[v] = struct{}{}
		f.Values = append(f.Values, v)
	}
	if len(f.Values) == 0 {
		return fail("%s: lists no values; give at least one, separated by commas", f.Mode)
	}
	slices.Sort(f.Values)
	f.set = seen
	return f, nil
}

// MustParseFilter is ParseFilter for tests and constants; it panics on error.
func MustParseFilter(s string) Filter {
	f, err := ParseFilter(s)
	if err != nil {
		panic(err)
	}
	return f
}

// IsZero reports whether the filter keeps everything and sends nothing.
func (f Filter) IsZero() bool { return f.Mode == SetNone && f.Native == "" }

// HasSet reports whether the filter has an include or exclude set.
func (f Filter) HasSet() bool { return f.Mode != SetNone }

// Keeps reports whether the set part keeps v (an email or group name).
func (f Filter) Keeps(v string) bool {
	if f.Mode == SetNone {
		return true
	}
	set := f.set
	if set == nil {
		set = make(map[string]struct{}, len(f.Values))
		for _, x := range f.Values {
			set[x] = struct{}{}
		}
	}
	_, in := set[strings.ToLower(strings.TrimSpace(v))]
	if f.Mode == SetInclude {
		return in
	}
	return !in
}

// String writes the filter back in canonical form; ParseFilter(f.String())
// gives an equal filter.
func (f Filter) String() string {
	var b strings.Builder
	if f.Mode != SetNone {
		b.WriteString(f.Mode.String())
		b.WriteString(":")
		b.WriteString(strings.Join(f.Values, ","))
	}
	if f.Native != "" {
		if b.Len() > 0 {
			b.WriteString(" ")
		}
		b.WriteString("| ")
		b.WriteString(f.Native)
	}
	return b.String()
}

func indexUnquoted(s string, c byte) int {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && quoted:
			i++
		case s[i] == '"':
			quoted = !quoted
		case s[i] == c && !quoted:
			return i
		}
	}
	return -1
}

func looksNative(s string) bool {
	l := " " + strings.ToLower(s) + " "
	for _, op := range []string{" eq ", " gt ", " ge ", " lt ", " le ", " sw ", " co ", " pr "} {
		if strings.Contains(l, op) {
			return true
		}
	}
	return false
}
