package ldap

import (
	"errors"
	"fmt"
	"strings"

	ldap "github.com/go-ldap/ldap/v3"

	"github.com/dirsync/dirsync/internal/directory"
)

// The LDAP filter grammar. BDC sends an LDAP user or group filter to the
// server as a raw RFC 4515 expression ANDed with the object class
// (ldap-directory.service.ts, buildBaseFilter); it has no include/exclude
// sets for LDAP. dirsync accepts that form unchanged, so a BDC filter
// works as it is, and also the include/exclude set of the other types,
// optionally followed by "|" and an RFC 4515 filter:
//
//	(&(department=Sales)(!(title=Intern)))        raw, as in BDC
//	include:Engineering,Sales                     a set of group names (or emails)
//	exclude:temp@example.com | (l=Paris)          a set, then a raw filter
//
// A raw filter starts with "(", a set with its keyword, so the two never
// mix up (and a "|" inside a raw filter is LDAP's OR, not a separator).

// FilterHelp shows the accepted forms.
const FilterHelp = `an RFC 4515 LDAP filter in parentheses, such as (department=Sales) or (&(l=Paris)(!(title=Intern))), ` +
	`ANDed with the object class as in Directory Connector; or "include:" or "exclude:" followed by comma-separated ` +
	`%s, optionally followed by "|" and an LDAP filter`

// FilterError is an LDAP filter that cannot be used.
type FilterError struct {
	Input, Reason string
	Users         bool
}

func (e *FilterError) Error() string {
	what, values := "group", "group names"
	if e.Users {
		what, values = "user", "email addresses"
	}
	return fmt.Sprintf("The %s filter %q cannot be used: %s. Write %s.", what, e.Input, e.Reason, fmt.Sprintf(FilterHelp, values))
}

// Is lets errors.Is(err, directory.ErrFilter) match.
func (e *FilterError) Is(target error) bool { return target == directory.ErrFilter }

// ParseFilter parses an LDAP user filter (users true) or group filter. The
// raw part is checked with go-ldap's CompileFilter, ANDed with an object
// class as it will be sent, so a filter that the server would refuse is
// refused when it is saved.
func ParseFilter(expr string, users bool) (directory.Filter, error) {
	in := strings.TrimSpace(expr)
	if in == "" {
		return directory.Filter{}, nil
	}
	fail := func(format string, a ...any) (directory.Filter, error) {
		return directory.Filter{}, &FilterError{Input: expr, Reason: fmt.Sprintf(format, a...), Users: users}
	}
	if strings.ContainsAny(in, "\r\n") {
		return fail("it must be on one line")
	}
	if strings.HasPrefix(in, "(") {
		if reason := compileRaw(in); reason != "" {
			return fail("%s", reason)
		}
		return directory.Filter{Native: in}, nil
	}
	setPart, raw, hasBar := strings.Cut(in, "|")
	setPart, raw = strings.TrimSpace(setPart), strings.TrimSpace(raw)
	keyword, _, hasColon := strings.Cut(setPart, ":")
	switch k := strings.ToLower(strings.TrimSpace(keyword)); {
	case !hasColon && strings.Contains(setPart, "="):
		return fail("an LDAP filter must be in parentheses, such as (%s)", setPart)
	case !hasColon || (k != "include" && k != "exclude"):
		return fail("it is neither an LDAP filter in parentheses nor starts with include: or exclude:")
	}
	f, err := directory.ParseFilter(setPart)
	if err != nil {
		var fe *directory.FilterError
		if errors.As(err, &fe) {
			return fail("%s", fe.Reason)
		}
		return fail("%v", err)
	}
	if hasBar {
		if raw == "" {
			return fail("nothing follows the '|': remove it or add an LDAP filter in parentheses after it")
		}
		if !strings.HasPrefix(raw, "(") {
			return fail("the LDAP filter after the '|' must be in parentheses, such as (%s)", raw)
		}
		if reason := compileRaw(raw); reason != "" {
			return fail("%s", reason)
		}
		f.Native = raw
	}
	return f, nil
}

// compileRaw says why raw is not an RFC 4515 filter ("" when it is).
func compileRaw(raw string) string {
	if _, err := ldap.CompileFilter("(&(objectClass=x)" + raw + ")"); err != nil {
		reason := err.Error()
		if u := errors.Unwrap(err); u != nil {
			reason = u.Error()
		}
		var le *ldap.Error
		if errors.As(err, &le) && le.Err != nil {
			reason = le.Err.Error()
		}
		return "it is not an RFC 4515 filter (" + reason + ")"
	}
	return ""
}

// filterSyntax is the type's FilterSyntax.
func filterSyntax() directory.FilterSyntax {
	return directory.FilterSyntax{
		UserHelp: "Empty reads every user the object class finds. Otherwise " + fmt.Sprintf(FilterHelp, "email addresses") +
			`. Examples: (memberOf=cn=Staff,ou=groups,dc=example,dc=com) or exclude:temp@example.com.`,
		GroupHelp: "Empty reads every group the object class finds. Otherwise " + fmt.Sprintf(FilterHelp, "group names") +
			`. A group include or exclude set also narrows users to members of the kept groups. Examples: (cn=Eng*) or include:Engineering,Sales.`,
		Parse: ParseFilter,
	}
}
