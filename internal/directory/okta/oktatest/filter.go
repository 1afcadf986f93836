package oktatest

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// errBadFilter is answered as 400 E0000031 "Invalid search criteria.".
var errBadFilter = errors.New("invalid search criteria")

// predicate matches one item of a list.
type predicate[T any] func(T) bool

type attrKind int

// Okta compares filter values case-sensitively: "Filtering is
// case-sensitive for attribute names and query values, while attribute
// operators are case-insensitive" (the listUsers `filter` parameter of
// okta/okta-management-openapi-spec, mirrored in okta/okta-sdk-python
// docs/UserApi.md). So `profile.email eq "Ann@x.com"` does not match
// ann@x.com: a filter that passes our Test must match in Okta too.
const (
	kindString attrKind = iota // eq only, case-sensitive
	kindTime                   // gt, ge, lt, le (and eq)
)

// oktaDate is the timestamp literal Okta's filters take: ISO 8601 with
// milliseconds, `yyyy-MM-dd'T'HH:mm:ss.SSSZ` (the group filter table of the
// same spec; every example is like "2013-06-01T00:00:00.000Z"). A literal
// without the milliseconds is refused with E0000031 by Okta, so the fake
// refuses it too.
var oktaDate = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|[+-]\d{2}:\d{2})$`)

type attr[T any] struct {
	kind attrKind
	str  func(T) string
	time func(T) time.Time
}

var userAttrs = map[string]attr[*User]{
	"status":            {kind: kindString, str: func(u *User) string { return u.Status }},
	"id":                {kind: kindString, str: func(u *User) string { return u.ID }},
	"profile.login":     {kind: kindString, str: func(u *User) string { return u.Login }},
	"profile.email":     {kind: kindString, str: func(u *User) string { return u.Email }},
	"profile.firstName": {kind: kindString, str: func(u *User) string { return u.FirstName }},
	"profile.lastName":  {kind: kindString, str: func(u *User) string { return u.LastName }},
	"lastUpdated":       {kind: kindTime, time: func(u *User) time.Time { return u.LastUpdated }},
}

var groupAttrs = map[string]attr[*Group]{
	"id":                    {kind: kindString, str: func(g *Group) string { return g.ID }},
	"type":                  {kind: kindString, str: func(g *Group) string { return g.Type }},
	"lastUpdated":           {kind: kindTime, time: func(g *Group) time.Time { return g.LastUpdated }},
	"lastMembershipUpdated": {kind: kindTime, time: func(g *Group) time.Time { return g.LastMembershipUpdated }},
}

// parseFilter compiles an Okta filter expression:
//
//	expr   = term { "or" term }
//	term   = factor { "and" factor }
//	factor = "(" expr ")" | attribute op "quoted value"
func parseFilter[T any](s string, attrs map[string]attr[T]) (predicate[T], error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	p := &filterParser[T]{toks: toks, attrs: attrs}
	pred, err := p.expr()
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, fmt.Errorf("%w: unexpected %q", errBadFilter, p.toks[p.pos].text)
	}
	return pred, nil
}

type token struct {
	text   string
	quoted bool
}

func tokenize(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '(' || c == ')':
			toks = append(toks, token{text: string(c)})
			i++
		case c == '"':
			var b strings.Builder
			i++
			closed := false
			for i < len(s) {
				if s[i] == '\\' && i+1 < len(s) {
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				if s[i] == '"' {
					closed = true
					i++
					break
				}
				b.WriteByte(s[i])
				i++
			}
			if !closed {
				return nil, fmt.Errorf("%w: unclosed quote", errBadFilter)
			}
			toks = append(toks, token{text: b.String(), quoted: true})
		default:
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '\t' && s[j] != '(' && s[j] != ')' && s[j] != '"' {
				j++
			}
			toks = append(toks, token{text: s[i:j]})
			i = j
		}
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("%w: empty", errBadFilter)
	}
	return toks, nil
}

type filterParser[T any] struct {
	toks  []token
	pos   int
	attrs map[string]attr[T]
}

func (p *filterParser[T]) peekWord(w string) bool {
	return p.pos < len(p.toks) && !p.toks[p.pos].quoted && strings.EqualFold(p.toks[p.pos].text, w)
}

func (p *filterParser[T]) expr() (predicate[T], error) {
	left, err := p.term()
	if err != nil {
		return nil, err
	}
	for p.peekWord("or") {
		p.pos++
		right, err := p.term()
		if err != nil {
			return nil, err
		}
		l := left
		left = func(v T) bool { return l(v) || right(v) }
	}
	return left, nil
}

func (p *filterParser[T]) term() (predicate[T], error) {
	left, err := p.factor()
	if err != nil {
		return nil, err
	}
	for p.peekWord("and") {
		p.pos++
		right, err := p.factor()
		if err != nil {
			return nil, err
		}
		l := left
		left = func(v T) bool { return l(v) && right(v) }
	}
	return left, nil
}

func (p *filterParser[T]) factor() (predicate[T], error) {
	if p.peekWord("(") {
		p.pos++
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		if !p.peekWord(")") {
			return nil, fmt.Errorf("%w: missing )", errBadFilter)
		}
		p.pos++
		return e, nil
	}
	if p.pos+3 > len(p.toks) {
		return nil, fmt.Errorf("%w: incomplete comparison", errBadFilter)
	}
	name, op, val := p.toks[p.pos], p.toks[p.pos+1], p.toks[p.pos+2]
	p.pos += 3
	if name.quoted || op.quoted || !val.quoted {
		return nil, fmt.Errorf("%w: want attribute op \"value\"", errBadFilter)
	}
	a, ok := p.attrs[name.text]
	if !ok {
		return nil, fmt.Errorf("%w: attribute %q cannot be filtered", errBadFilter, name.text)
	}
	opName := strings.ToLower(op.text)
	switch a.kind {
	case kindString:
		if opName != "eq" {
			return nil, fmt.Errorf("%w: %s supports eq only", errBadFilter, name.text)
		}
		want, get := val.text, a.str
		return func(v T) bool { return get(v) == want }, nil
	default:
		if !oktaDate.MatchString(val.text) {
			return nil, fmt.Errorf("%w: %q is not a timestamp like \"2013-06-01T00:00:00.000Z\" (milliseconds required)", errBadFilter, val.text)
		}
		t, err := time.Parse(time.RFC3339Nano, val.text)
		if err != nil {
			return nil, fmt.Errorf("%w: %q is not a timestamp", errBadFilter, val.text)
		}
		get := a.time
		switch opName {
		case "eq":
			return func(v T) bool { return get(v).Equal(t) }, nil
		case "gt":
			return func(v T) bool { return get(v).After(t) }, nil
		case "ge":
			return func(v T) bool { return !get(v).Before(t) }, nil
		case "lt":
			return func(v T) bool { return get(v).Before(t) }, nil
		case "le":
			return func(v T) bool { return !get(v).After(t) }, nil
		}
		return nil, fmt.Errorf("%w: unknown operator %q", errBadFilter, op.text)
	}
}
