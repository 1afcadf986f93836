package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	ldap "github.com/go-ldap/ldap/v3"

	"github.com/dirsync/dirsync/internal/directory"
	"github.com/dirsync/dirsync/internal/logctx"
)

// userAccountDisabled is AD's ACCOUNTDISABLE bit of userAccountControl.
const userAccountDisabled = 2

// Statuses shown for LDAP users (LDAP has no status of its own).
const (
	StatusActive   = "ACTIVE"
	StatusDisabled = "DISABLED"
	// StatusDeleted is an Active Directory user read from CN=Deleted
	// Objects.
	StatusDeleted = "DELETED"
)

// Source reads one LDAP directory. It holds no connection between reads:
// each Read connects, binds, searches and closes.
type Source struct {
	cfg Config
	log *slog.Logger
	// observe, when set, sees every search request (metrics).
	observe func(directory.RequestEvent)
}

var _ directory.Source = (*Source)(nil)

// New checks cfg (after Normalize) and returns a Source for it. log may be
// nil.
func New(cfg Config, log *slog.Logger) (*Source, error) {
	cfg = cfg.Normalize()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Source{cfg: cfg, log: log}, nil
}

// Observe makes the source report every search request to fn (the
// engine's metrics); it returns the source.
func (s *Source) Observe(fn func(directory.RequestEvent)) *Source {
	s.observe = fn
	return s
}

// do sends one search request, counting and reporting it. The event's
// Status is the LDAP result code the server sent (0, success, included),
// or 0 with an error when no answer came (go-ldap's own codes, 200 and
// up, are transport failures); Bucket says which part of the read asked.
func (r *run) do(req *ldap.SearchRequest, bucket string) (*ldap.SearchResult, error) {
	r.requests++
	start := time.Now()
	res, err := r.conn.Search(req)
	if obs := r.s.observe; obs != nil {
		ev := directory.RequestEvent{Kind: KindName, Method: "search", Path: req.BaseDN, Bucket: bucket,
			Duration: time.Since(start), RateLimitRemaining: -1, RateLimitLimit: -1}
		var le *ldap.Error
		switch {
		case err == nil:
			ev.Status = int(ldap.LDAPResultSuccess)
		case errors.As(err, &le) && le.ResultCode < ldap.ErrorNetwork:
			ev.Status = int(le.ResultCode)
		default:
			ev.Status = 0 // transport: no answer
		}
		obs(ev)
	}
	return res, err
}

// run is one Read's connection and counters.
type run struct {
	s        *Source
	conn     *ldap.Conn
	requests int
	// pageSize, once set, is the page size the server accepted after
	// refusing a larger one (see search).
	pageSize int
}

// Read connects, binds and reads the directory as opts asks, returning a
// complete snapshot or an error and no snapshot. The user search always
// runs when groups are read too, because group members are matched
// against the users it returns (as in BDC: a member who is not a user the
// user search finds is not a member).
//
// Users come sorted by id; groups sorted by id with sorted, de-duplicated
// member ids that include the members of nested groups. The GroupFilter's
// set part is applied after flattening, so a kept group keeps the members
// it has through a dropped subgroup.
//
// LDAP has no membership timestamps or change feed that this source uses
// yet: opts.Cache and opts.UsersChangedSince are ignored, and every read
// is a full one (Snapshot.UsersDelta stays false).
func (s *Source) Read(ctx context.Context, opts directory.ReadOptions) (*directory.Snapshot, error) {
	start := time.Now()
	log := logctx.From(ctx, s.log)
	userFilter, err := objectFilter(s.cfg.UserObjectClass, opts.UserFilter.Native, "user")
	if err != nil {
		return nil, err
	}
	groupFilter, err := objectFilter(s.cfg.GroupObjectClass, opts.GroupFilter.Native, "group")
	if err != nil {
		return nil, err
	}
	snap := &directory.Snapshot{}
	if !opts.Users && !opts.Groups {
		return snap, nil
	}
	conn, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }() // a read-only session: nothing to lose
	// Cancelling the context closes the connection, which ends the search
	// that is waiting for the server at once.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	r := &run{s: s, conn: conn}
	progress := func(p directory.Progress) {
		if opts.Progress != nil {
			opts.Progress(p)
		}
	}

	// Users.
	var (
		users  []directory.User
		byDN   = map[string]string{} // normalised DN → external id
		byUID  = map[string]string{} // lower-cased uid → external id
		seenID = map[string]bool{}
	)
	userBase := searchBase(s.cfg.RootPath, s.cfg.UserPath)
	userAttrs := []string{"objectGUID", "userAccountControl", "uid", s.cfg.UserEmailAttribute}
	if s.cfg.UseEmailPrefixSuffix && s.cfg.EmailPrefixAttribute != "" {
		userAttrs = append(userAttrs, s.cfg.EmailPrefixAttribute)
	}
	log.Debug("ldap user search", "base", userBase, "filter", userFilter)
	err = r.search(ctx, "users", userBase, userFilter, userAttrs, func(e *ldap.Entry) error {
		u, err := s.mapUser(e)
		if err != nil {
			return err
		}
		byDN[normDN(e.DN)] = u.ID
		if uid := e.GetEqualFoldAttributeValue("uid"); uid != "" {
			byUID[strings.ToLower(uid)] = u.ID
		}
		if !seenID[u.ID] {
			seenID[u.ID] = true
			users = append(users, u)
		}
		if len(users)%1000 == 0 {
			progress(directory.Progress{Phase: "users", Done: len(users), Message: fmt.Sprintf("%d users read", len(users))})
		}
		return nil
	})
	if err != nil {
		return nil, r.fail(ctx, "user", userBase, err)
	}
	progress(directory.Progress{Phase: "users", Done: len(users), Message: fmt.Sprintf("%d users read", len(users))})
	if opts.Users && opts.IncludeDeleted && s.cfg.AD {
		n, warn, err := r.readDeleted(ctx, userAttrs, seenID, &users)
		if err != nil {
			return nil, err
		}
		if warn != "" {
			snap.Warnings = append(snap.Warnings, warn)
		}
		progress(directory.Progress{Phase: "deleted", Done: n, Message: fmt.Sprintf("%d deleted users read", n)})
	}
	if opts.Users {
		slices.SortFunc(users, func(a, b directory.User) int { return strings.Compare(a.ID, b.ID) })
		snap.Users = users
	}

	// Groups.
	if opts.Groups {
		groupBase := searchBase(s.cfg.RootPath, s.cfg.GroupPath)
		memberAttr := s.cfg.MemberAttribute
		if s.cfg.AD {
			// Ask for the first range ourselves: AD would cut the list at
			// its MaxValRange anyway, and a server that does not (Samba)
			// then answers the same way, so range retrieval runs the same
			// path everywhere.
			memberAttr = fmt.Sprintf("%s;range=0-%d", s.cfg.MemberAttribute, adRangeStep-1)
		}
		groupAttrs := []string{"objectGUID", "cn", s.cfg.GroupNameAttribute, memberAttr}
		var raws []*rawGroup
		log.Debug("ldap group search", "base", groupBase, "filter", groupFilter)
		err = r.search(ctx, "groups", groupBase, groupFilter, groupAttrs, func(e *ldap.Entry) error {
			if err := r.completeRanges(ctx, e); err != nil {
				return err
			}
			g, warn, err := s.mapGroup(e, byDN, byUID)
			if err != nil {
				return err
			}
			if warn != "" {
				snap.Warnings = append(snap.Warnings, warn)
			}
			if g != nil {
				raws = append(raws, g)
			}
			return nil
		})
		if err != nil {
			return nil, r.fail(ctx, "group", groupBase, err)
		}
		if s.inChain() {
			if err := r.resolveInChain(ctx, raws, userBase, userFilter, byDN, opts.GroupFilter.Keeps); err != nil {
				return nil, r.fail(ctx, "nested group", userBase, err)
			}
		}
		snap.Groups = flatten(raws, opts.GroupFilter.Keeps)
		snap.Stats.MemberReads = len(raws)
		progress(directory.Progress{Phase: "groups", Done: len(raws), Message: fmt.Sprintf("%d groups read", len(raws))})
	}
	snap.Stats.Requests = r.requests
	snap.Stats.Duration = time.Since(start)
	log.Info("ldap read done", "users", len(users), "groups", len(snap.Groups), "searches", r.requests, "duration", snap.Stats.Duration)
	return snap, nil
}

// objectFilter is BDC's buildBaseFilter: the object class ANDed with the
// filter's raw RFC 4515 part, checked before anything is sent.
func objectFilter(objectClass, native, what string) (string, error) {
	f := "(objectClass=" + objectClass + ")"
	if native = strings.TrimSpace(native); native != "" {
		f = "(&" + f + native + ")"
	}
	if _, err := ldap.CompileFilter(f); err != nil {
		if native != "" {
			return "", &ConfigError{Field: what + "Filter", Message: fmt.Sprintf(
				"The %s filter's LDAP part %q is not an RFC 4515 filter (%v): write it in parentheses, e.g. (department=Sales) or (&(l=Paris)(!(title=Intern))).",
				what, native, errors.Unwrap(err))}
		}
		return "", &ConfigError{Field: what + "ObjectClass", Message: fmt.Sprintf(
			"The %s object class %q cannot be used in a search filter: enter a class name such as inetOrgPerson or group.", what, objectClass)}
	}
	return f, nil
}

// connect dials (honouring ctx), upgrades with StartTLS when asked, and
// binds.
func (s *Source) connect(ctx context.Context) (*ldap.Conn, error) {
	addr := s.cfg.address()
	tc, err := s.cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	dialCtx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
	defer cancel()
	hostPort := net.JoinHostPort(strings.Trim(s.cfg.Hostname, "[]"), strconv.Itoa(s.cfg.Port))
	var nc net.Conn
	ldaps := s.cfg.SSL && !s.cfg.StartTLS
	if ldaps {
		nc, err = (&tls.Dialer{NetDialer: &net.Dialer{}, Config: tc}).DialContext(dialCtx, "tcp", hostPort)
	} else {
		nc, err = (&net.Dialer{}).DialContext(dialCtx, "tcp", hostPort)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, connectError(addr, err)
	}
	conn := ldap.NewConn(nc, ldaps)
	conn.Start()
	conn.SetTimeout(s.cfg.SearchTimeLimit)
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	if s.cfg.StartTLS {
		if err := conn.StartTLS(tc); err != nil {
			_ = conn.Close() // the error being returned is the one that matters
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, connectError(addr+" (StartTLS)", err)
		}
	}
	if err := conn.Bind(s.cfg.Username, s.cfg.Password.Reveal()); err != nil {
		_ = conn.Close() // the error being returned is the one that matters
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if ldap.IsErrorWithCode(err, ldap.LDAPResultStrongAuthRequired) || ldap.IsErrorWithCode(err, ldap.LDAPResultConfidentialityRequired) {
			// Active Directory (and Samba's default "ldap server require
			// strong auth") refuse a simple bind on a connection that is
			// not encrypted.
			return nil, fmt.Errorf("the LDAP server %s refuses a password bind on an unencrypted connection: turn on SSL (LDAPS, port 636) or SSL with StartTLS (port 389): %w", addr, err)
		}
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			return nil, fmt.Errorf("the LDAP server %s refused the bind user %q or its password: check both (on Active Directory the user may be a DN or user@domain): %w", addr, s.cfg.Username, err)
		}
		if isTimeout(err) {
			return nil, fmt.Errorf("the LDAP server %s did not answer the bind within the time limit of %s: check that the port is an LDAP port and the server is healthy: %w", addr, s.cfg.SearchTimeLimit, err)
		}
		return nil, fmt.Errorf("the bind to the LDAP server %s as %q failed: %w", addr, s.cfg.Username, err)
	}
	return conn, nil
}

// connectError says what failed while connecting and what to check.
func connectError(addr string, err error) error {
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		header    tls.RecordHeaderError
		verify    *tls.CertificateVerificationError
	)
	// go-ldap's StartTLS formats the handshake error with %v, so there
	// only its text tells what went wrong.
	text := err.Error()
	switch {
	case errors.As(err, &unknownCA), strings.Contains(text, "certificate signed by unknown authority"):
		return fmt.Errorf("the LDAP server %s has a certificate signed by a CA this machine does not trust: paste that CA's certificate (PEM) in caCert: %w", addr, err)
	case errors.As(err, &hostname), strings.Contains(text, "certificate is not valid for"):
		return fmt.Errorf("the LDAP server %s has a certificate for another name: use the host name the certificate names in hostname: %w", addr, err)
	case errors.As(err, &header), errors.As(err, &verify), strings.Contains(text, "TLS handshake failed"):
		return fmt.Errorf("the TLS handshake with the LDAP server %s failed (is the port right for LDAPS or StartTLS?): %w", addr, err)
	}
	return fmt.Errorf("cannot connect to the LDAP server %s: check the host name, the port and that the server is up: %w", addr, err)
}

// search runs one paged search, calling each for every entry. Every page
// is its own request with the time limit; the pages end when the server
// sends no cookie (or no paging control at all: a server that ignores
// paging has sent everything, or failed with a size-limit error).
func (r *run) search(ctx context.Context, bucket, base, filter string, attrs []string, each func(*ldap.Entry) error, controls ...ldap.Control) error {
	size := r.s.cfg.PageSize
	if r.pageSize > 0 {
		size = r.pageSize
	}
	paging := ldap.NewControlPaging(uint32(size))
	seconds := int(math.Ceil(r.s.cfg.SearchTimeLimit.Seconds()))
	req := ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, seconds, false,
		filter, attrs, append([]ldap.Control{paging}, controls...))
	first := true
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		res, err := r.do(req, bucket)
		if err != nil {
			// OpenLDAP refuses a page larger than its size.pr limit with
			// result 11, "illegal pagedResults page size", before sending
			// anything (AD caps the page silently): ask again with pages
			// half as large, and keep that size for the rest of the read.
			if first && size > 1 && ldap.IsErrorWithCode(err, ldap.LDAPResultAdminLimitExceeded) {
				size /= 2
				r.pageSize = size
				paging.PagingSize = uint32(size)
				r.s.log.Debug("ldap server refused the page size; asking for smaller pages", "pageSize", size)
				continue
			}
			return err
		}
		first = false
		for _, e := range res.Entries {
			if err := each(e); err != nil {
				return err
			}
		}
		ctrl, ok := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if !ok || len(ctrl.Cookie) == 0 {
			return nil
		}
		paging.SetCookie(ctrl.Cookie)
	}
}

// fail explains a failed search.
func (r *run) fail(ctx context.Context, what, base string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ce *ConfigError
	if errors.As(err, &ce) {
		return err
	}
	var dataErr *entryError
	if errors.As(err, &dataErr) {
		return err
	}
	limit := r.s.cfg.SearchTimeLimit
	switch {
	case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
		return fmt.Errorf("the %s search base %q does not exist on the LDAP server: check rootPath and %sPath; nothing was read: %w", what, base, what, err)
	case isTimeout(err):
		return fmt.Errorf("a page of the %s search took longer than the time limit of %s; nothing was read (try again, or a smaller page size): %w", what, limit, err)
	case ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded):
		return fmt.Errorf("the LDAP server stopped the %s search at its size limit although the search is paged (its limit on paged searches, e.g. OpenLDAP's size.prtotal, is lower than the directory); nothing was read: %w", what, err)
	}
	return fmt.Errorf("the %s search under %q failed; nothing was read: %w", what, base, err)
}

// isTimeout is the server's time limit (result 3) or the client's (go-ldap
// ends a request the server has not answered in time with this text).
func isTimeout(err error) bool {
	return ldap.IsErrorWithCode(err, ldap.LDAPResultTimeLimitExceeded) ||
		(ldap.IsErrorWithCode(err, ldap.ErrorNetwork) && strings.Contains(err.Error(), "timed out"))
}

// entryError is an entry whose data cannot be mapped.
type entryError struct{ msg string }

func (e *entryError) Error() string { return e.msg }

// mapUser maps one user entry.
func (s *Source) mapUser(e *ldap.Entry) (directory.User, error) {
	id, err := externalID(e)
	if err != nil {
		return directory.User{}, err
	}
	u := directory.User{ID: id, Status: StatusActive}
	email := e.GetEqualFoldAttributeValue(s.cfg.UserEmailAttribute)
	if email == "" && s.cfg.UseEmailPrefixSuffix && s.cfg.EmailPrefixAttribute != "" {
		if p := e.GetEqualFoldAttributeValue(s.cfg.EmailPrefixAttribute); p != "" {
			email = p + s.cfg.EmailSuffix
		}
	}
	u.Email = strings.ToLower(strings.TrimSpace(email))
	if uac := e.GetEqualFoldAttributeValue("userAccountControl"); uac != "" {
		// BDC parses with parseInt: a value that is not a number disables
		// nobody.
		if n, err := strconv.ParseInt(strings.TrimSpace(uac), 10, 64); err == nil && n&userAccountDisabled != 0 {
			u.Disabled = true
			u.Status = StatusDisabled
		}
	}
	return u, nil
}

// rawGroup is a group as read, before nested groups are flattened.
type rawGroup struct {
	id, name, dn string // dn normalised
	serverDN     string // dn as the server sent it
	users        []string
	children     []string // normalised DNs of member entries that are not users
}

// adRangeStep is the first range of a member list asked of Active
// Directory: its default MaxValRange, the most it sends in one answer.
const adRangeStep = 1500

// inChainRule is Active Directory's LDAP_MATCHING_RULE_IN_CHAIN
// ([MS-ADTS] 3.1.1.3.4.4.1): "memberOf:1.2.840.113556.1.4.1941:=G"
// matches every object that is a member of G at any depth of nesting. The
// server walks the chain (cycles end, a diamond counts once).
const inChainRule = "1.2.840.113556.1.4.1941"

// inChain says whether nested groups are resolved by the server: on
// Active Directory, when members are listed in "member" (the attribute
// whose back link memberOf the rule follows).
func (s *Source) inChain() bool {
	return s.cfg.AD && strings.EqualFold(s.cfg.MemberAttribute, "member")
}

// resolveInChain gives every kept group that lists a member other than a
// user read (a nested group, or something the user search did not find)
// its users at any depth, with one in-chain user search per such group.
// A group with only user members needs none: its list is already whole.
// As with client-side flattening, a user counts only if the user search
// finds it; unlike it, nesting is followed through every group of the
// domain, also those outside groupPath or the group filter (the members
// Windows shows as a group's effective members).
func (r *run) resolveInChain(ctx context.Context, raws []*rawGroup, userBase, userFilter string, byDN map[string]string, keep func(string) bool) error {
	for _, g := range raws {
		if len(g.children) == 0 || !keep(g.name) {
			continue
		}
		filter := "(&" + userFilter + "(memberOf:" + inChainRule + ":=" + ldap.EscapeFilter(g.serverDN) + "))"
		members := slices.Clone(g.users)
		err := r.search(ctx, "members", userBase, filter, []string{"1.1"}, func(e *ldap.Entry) error {
			if id, ok := byDN[normDN(e.DN)]; ok {
				members = append(members, id)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("reading the nested members of %s (in-chain): %w", g.serverDN, err)
		}
		g.users, g.children = members, nil
	}
	return nil
}

// readDeleted reads Active Directory's deleted users: the entries of the
// user object class under CN=Deleted Objects with isDeleted=TRUE, which
// only a search with the show-deleted control sees. The base and filter
// are BDC's (its user filter is not applied to them). A tombstone keeps
// its objectGUID (so its id is the one the user had) but, without the
// recycle bin, not its mail. Like BDC, a server that refuses the search
// (no rights on the container, the control unsupported) costs a warning,
// not the read: deleted users are only an early notice of what a full
// overwrite removes anyway. It returns how many were read.
func (r *run) readDeleted(ctx context.Context, attrs []string, seen map[string]bool, users *[]directory.User) (int, string, error) {
	base := searchBase(r.s.cfg.RootPath, "CN=Deleted Objects")
	filter := "(&(objectClass=" + r.s.cfg.UserObjectClass + ")(isDeleted=TRUE))"
	var got []directory.User
	err := r.search(ctx, "deleted", base, filter, attrs, func(e *ldap.Entry) error {
		u, err := r.s.mapUser(e)
		if err != nil {
			return err
		}
		u.Deleted, u.Status = true, StatusDeleted
		got = append(got, u)
		return nil
	}, ldap.NewControlString(ldap.ControlTypeMicrosoftShowDeleted, true, ""))
	if err != nil {
		var dataErr *entryError
		if ctx.Err() != nil || isTimeout(err) || errors.As(err, &dataErr) || ldap.IsErrorWithCode(err, ldap.ErrorNetwork) {
			return 0, "", r.fail(ctx, "deleted user", base, err)
		}
		return 0, fmt.Sprintf("The deleted users under %s were not read (%v): give the bind user the right to list deleted objects, or ignore this if you do not need deleted AD users removed before a full overwrite.", base, err), nil
	}
	for _, u := range got {
		if !seen[u.ID] {
			seen[u.ID] = true
			*users = append(*users, u)
		}
	}
	return len(got), "", nil
}

// maxRangeSteps bounds range retrieval of one group (AD's MaxValRange is
// 1,500 by default, so this is 15 million members).
const maxRangeSteps = 10000

// completeRanges reads the rest of a member list that Active Directory
// sent in part. AD answers a multi-valued attribute with more values than
// its MaxValRange (1,500) as "member;range=0-1499"; the client asks for
// "member;range=1500-*" with a base search on the entry, and so on, until
// an answer's range ends in "*" ([MS-ADTS] 3.1.1.3.1.3.3, "Range
// Retrieval of Attribute Values"). BDC does not, so its groups stop at
// 1,500 members. The entry is rewritten to hold every value under the
// plain attribute name.
func (r *run) completeRanges(ctx context.Context, e *ldap.Entry) error {
	attr := r.s.cfg.MemberAttribute
	prefix := strings.ToLower(attr) + ";range="
	idx := slices.IndexFunc(e.Attributes, func(a *ldap.EntryAttribute) bool {
		return strings.HasPrefix(strings.ToLower(a.Name), prefix)
	})
	if idx < 0 {
		return nil
	}
	values := slices.Clone(e.Attributes[idx].Values)
	name := e.Attributes[idx].Name
	seconds := int(math.Ceil(r.s.cfg.SearchTimeLimit.Seconds()))
	for step := 0; ; step++ {
		_, hi, ok := parseRange(name[len(prefix):])
		if !ok || step > maxRangeSteps {
			return &entryError{msg: fmt.Sprintf("the LDAP server sent the members of %s with a range (%s) that cannot be followed; nothing was read rather than a group cut short", e.DN, name)}
		}
		if hi < 0 { // "*": the last range
			break
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		next := fmt.Sprintf("%s;range=%d-*", attr, hi+1)
		res, err := r.do(ldap.NewSearchRequest(e.DN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, seconds, false,
			"(objectClass=*)", []string{next}, nil), "members")
		if err != nil {
			return fmt.Errorf("reading the members of %s from %d on (range retrieval): %w", e.DN, hi+1, err)
		}
		var got *ldap.EntryAttribute
		if len(res.Entries) == 1 {
			for _, a := range res.Entries[0].Attributes {
				if strings.HasPrefix(strings.ToLower(a.Name), prefix) {
					got = a
				}
			}
		}
		if got == nil {
			return &entryError{msg: fmt.Sprintf("the LDAP server sent no more members of %s after %d (range retrieval asked for %s); nothing was read rather than a group cut short", e.DN, len(values), next)}
		}
		if lo, _, ok := parseRange(got.Name[len(prefix):]); !ok || lo != hi+1 {
			return &entryError{msg: fmt.Sprintf("the LDAP server answered the range %s of %s with %s; nothing was read rather than a group cut short", next, e.DN, got.Name)}
		}
		values = append(values, got.Values...)
		name = got.Name
	}
	attrs := slices.Delete(slices.Clone(e.Attributes), idx, idx+1)
	attrs = slices.DeleteFunc(attrs, func(a *ldap.EntryAttribute) bool { return strings.EqualFold(a.Name, attr) })
	e.Attributes = append(attrs, &ldap.EntryAttribute{Name: attr, Values: values})
	return nil
}

// parseRange reads "lo-hi" or "lo-*" (hi -1).
func parseRange(s string) (lo, hi int, ok bool) {
	a, b, found := strings.Cut(s, "-")
	if !found {
		return 0, 0, false
	}
	lo, err := strconv.Atoi(a)
	if err != nil || lo < 0 {
		return 0, 0, false
	}
	if b == "*" {
		return lo, -1, true
	}
	hi, err = strconv.Atoi(b)
	if err != nil || hi < lo {
		return 0, 0, false
	}
	return lo, hi, true
}

// mapGroup maps one group entry. A group without a name is skipped with a
// warning (BDC skips it silently).
func (s *Source) mapGroup(e *ldap.Entry, byDN, byUID map[string]string) (*rawGroup, string, error) {
	memberAttr := strings.ToLower(s.cfg.MemberAttribute)
	for _, a := range e.Attributes {
		if strings.HasPrefix(strings.ToLower(a.Name), memberAttr+";range=") {
			return nil, "", &entryError{msg: fmt.Sprintf(
				"the group %s still has a ranged member list (%s) after range retrieval; nothing was read rather than a group cut short", e.DN, a.Name)}
		}
	}
	id, err := externalID(e)
	if err != nil {
		return nil, "", err
	}
	name := e.GetEqualFoldAttributeValue(s.cfg.GroupNameAttribute)
	if name == "" {
		name = e.GetEqualFoldAttributeValue("cn")
	}
	if name == "" {
		return nil, fmt.Sprintf("The group %s has no %s or cn attribute, so it was left out.", e.DN, s.cfg.GroupNameAttribute), nil
	}
	g := &rawGroup{id: id, name: name, dn: normDN(e.DN), serverDN: e.DN}
	for _, v := range e.GetEqualFoldAttributeValues(s.cfg.MemberAttribute) {
		// BDC's rule: a value with "=" and "," is a DN (of a user, else of
		// a group); anything else is a uid (posixGroup memberUid).
		if strings.Contains(v, "=") && strings.Contains(v, ",") {
			dn := normDN(v)
			if uid, ok := byDN[dn]; ok {
				g.users = append(g.users, uid)
			} else {
				g.children = append(g.children, dn)
			}
			continue
		}
		if uid, ok := byUID[strings.ToLower(strings.TrimSpace(v))]; ok {
			g.users = append(g.users, uid)
		}
	}
	return g, "", nil
}

// flatten gives every group the users of the groups nested in it, at any
// depth. Each group walks its subgroups with its own visited set, so a
// cycle ends (every group of a cycle gets the users of all of them) and a
// diamond counts a user once. Groups are returned sorted by id, only those
// keep says yes to.
func flatten(raws []*rawGroup, keep func(name string) bool) []directory.Group {
	byDN := make(map[string]*rawGroup, len(raws))
	for _, g := range raws {
		byDN[g.dn] = g
	}
	out := make([]directory.Group, 0, len(raws))
	for _, g := range raws {
		if !keep(g.name) {
			continue
		}
		members := map[string]struct{}{}
		visited := map[string]bool{g.dn: true}
		queue := []*rawGroup{g}
		for len(queue) > 0 {
			cur := queue[0]
			queue = queue[1:]
			for _, u := range cur.users {
				members[u] = struct{}{}
			}
			for _, c := range cur.children {
				if child, ok := byDN[c]; ok && !visited[c] {
					visited[c] = true
					queue = append(queue, child)
				}
			}
		}
		ids := make([]string, 0, len(members))
		for u := range members {
			ids = append(ids, u)
		}
		slices.Sort(ids)
		out = append(out, directory.Group{ID: g.id, Name: g.name, MemberIDs: ids})
	}
	slices.SortFunc(out, func(a, b directory.Group) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// externalID is the entry's objectGUID as BDC writes it, else its DN as
// the server sent it.
func externalID(e *ldap.Entry) (string, error) {
	raw := e.GetEqualFoldRawAttributeValue("objectGUID")
	if len(raw) == 0 {
		return e.DN, nil
	}
	if len(raw) != 16 {
		return "", &entryError{msg: fmt.Sprintf("the objectGUID of %s is %d bytes long, not 16; nothing was read", e.DN, len(raw))}
	}
	return guidString(raw), nil
}

// guidString writes a 16-byte objectGUID as BDC's bufToGuid does: the
// first three groups byte-reversed (Microsoft's little-endian GUID
// layout), the last two as stored, lower-case hex.
func guidString(b []byte) string {
	rev := func(p []byte) string {
		q := slices.Clone(p)
		slices.Reverse(q)
		return hex.EncodeToString(q)
	}
	return rev(b[0:4]) + "-" + rev(b[4:6]) + "-" + rev(b[6:8]) + "-" + hex.EncodeToString(b[8:10]) + "-" + hex.EncodeToString(b[10:16])
}

// normDN is a DN in a form two spellings of the same DN share: attribute
// types and values lower-cased, spaces around separators dropped, escapes
// decoded. A value that does not parse is only trimmed and lower-cased.
func normDN(s string) string {
	dn, err := ldap.ParseDN(s)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(s))
	}
	var b strings.Builder
	for i, rdn := range dn.RDNs {
		if i > 0 {
			b.WriteByte(',')
		}
		for j, a := range rdn.Attributes {
			if j > 0 {
				b.WriteByte('+')
			}
			b.WriteString(strings.ToLower(a.Type))
			b.WriteByte('=')
			b.WriteString(ldap.EscapeDN(strings.ToLower(a.Value)))
		}
	}
	return b.String()
}
