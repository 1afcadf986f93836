package ldap

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	ldap "github.com/go-ldap/ldap/v3"

	"github.com/dirsync/dirsync/internal/directory"
)

// CheckConnection is the console's "Check connection": it connects and
// binds with the settings, counts the users and the groups under their
// paths (paged, each page with the time limit; groups without their
// member lists, so it costs far less than a read), and shows one user as
// a sync would send it. The sync filters are not applied: they belong to
// the sync options, not the directory.
func (s *Source) CheckConnection(ctx context.Context) (*directory.CheckResult, error) {
	start := time.Now()
	userFilter, err := objectFilter(s.cfg.UserObjectClass, "", "user")
	if err != nil {
		return nil, err
	}
	groupFilter, err := objectFilter(s.cfg.GroupObjectClass, "", "group")
	if err != nil {
		return nil, err
	}
	conn, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }() // a read-only session: nothing to lose
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	r := &run{s: s, conn: conn}

	userBase := searchBase(s.cfg.RootPath, s.cfg.UserPath)
	attrs := []string{"objectGUID", "userAccountControl", "uid", s.cfg.UserEmailAttribute}
	if s.cfg.UseEmailPrefixSuffix && s.cfg.EmailPrefixAttribute != "" {
		attrs = append(attrs, s.cfg.EmailPrefixAttribute)
	}
	var (
		users, withEmail, disabled int
		sample                     *directory.User
	)
	err = r.search(ctx, "users", userBase, userFilter, attrs, func(e *ldap.Entry) error {
		u, err := s.mapUser(e)
		if err != nil {
			return err
		}
		users++
		if u.Disabled {
			disabled++
		}
		if u.Email != "" {
			withEmail++
			// The sample is the first user with an email by id, so
			// the same directory shows the same sample.
			if sample == nil || u.ID < sample.ID {
				sample = &u
			}
		}
		return nil
	})
	if err != nil {
		return nil, r.fail(ctx, "user", userBase, err)
	}
	groupBase := searchBase(s.cfg.RootPath, s.cfg.GroupPath)
	groups := 0
	// "1.1" asks for no attributes (RFC 4511 4.5.1.8): only the count.
	err = r.search(ctx, "groups", groupBase, groupFilter, []string{"1.1"}, func(*ldap.Entry) error { groups++; return nil })
	if err != nil {
		return nil, r.fail(ctx, "group", groupBase, err)
	}

	addr := s.cfg.address()
	security := "none (in clear)"
	switch {
	case s.cfg.SSL && s.cfg.StartTLS:
		security = "StartTLS"
	case s.cfg.SSL:
		security = "LDAPS"
	}
	if s.cfg.SSL && s.cfg.SSLAllowUnauthorized {
		security += ", certificate not verified"
	} else if s.cfg.SSL && s.cfg.CACert != "" {
		security += ", verified against the CA certificate given"
	} else if s.cfg.SSL {
		security += ", verified against this machine's trusted CAs"
	}
	res := &directory.CheckResult{
		Summary: fmt.Sprintf("Signed in to %s as %s: %s, %s.", addr, s.cfg.Username, plural(users, "user"), plural(groups, "group")),
		Facts: []directory.Fact{
			{Label: "Server", Value: addr},
			{Label: "Connection security", Value: security},
			{Label: "Bound as", Value: s.cfg.Username},
			{Label: "User search", Value: userBase + " " + userFilter},
			{Label: "Users", Value: fmt.Sprintf("%d (%d with an email address, %d disabled)", users, withEmail, disabled)},
			{Label: "Group search", Value: groupBase + " " + groupFilter},
			{Label: "Groups", Value: fmt.Sprint(groups)},
		},
	}
	if sample != nil {
		res.Facts = append(res.Facts, directory.Fact{Label: "Sample user", Value: fmt.Sprintf("%s (externalId %s)", sample.Email, sample.ID)})
	}
	res.Facts = append(res.Facts, directory.Fact{Label: "Searches", Value: fmt.Sprintf("%d in %s", r.requests, time.Since(start).Round(time.Millisecond))})

	emailFrom := s.cfg.UserEmailAttribute
	if s.cfg.UseEmailPrefixSuffix {
		emailFrom += " (or " + s.cfg.EmailPrefixAttribute + " + " + s.cfg.EmailSuffix + ")"
	}
	switch {
	case users == 0:
		res.Warnings = append(res.Warnings, fmt.Sprintf("The user search found no %s entries under %s: check the user path and the user object class.", s.cfg.UserObjectClass, userBase))
	case withEmail == 0:
		res.Warnings = append(res.Warnings, fmt.Sprintf("None of the %s has an email address in %s, so a sync would send no members: check the email attribute, or build emails from a prefix and suffix.", plural(users, "user"), emailFrom))
	case withEmail < users:
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d of the %s have no email address in %s; a sync leaves them out.", users-withEmail, plural(users, "user"), emailFrom))
	}
	if groups == 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("The group search found no %s entries under %s: check the group path and the group object class, or turn off syncing groups.", s.cfg.GroupObjectClass, groupBase))
	}
	if s.cfg.SSL && s.cfg.SSLAllowUnauthorized {
		res.Warnings = append(res.Warnings, "The server's certificate is not verified: whoever answers on its address gets the bind password. Paste the CA certificate and turn verification back on.")
	}
	if !s.cfg.SSL && !isLoopback(s.cfg.Hostname) {
		res.Warnings = append(res.Warnings, "The connection is not encrypted: the bind password and the directory's data travel in clear. Use LDAPS or StartTLS.")
	}
	return res, nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func isLoopback(host string) bool {
	h := strings.Trim(host, "[]")
	if ip := net.ParseIP(h); ip != nil {
		return ip.IsLoopback()
	}
	return slices.Contains([]string{"localhost", "localhost.localdomain"}, strings.ToLower(h))
}
