package sync

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/dirsync/dirsync/internal/bitwarden"
	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory"
)

// tokenChecker is the optional part of a Pusher that fetches a token on
// its own, so that a refused API key is told apart from a refused listing.
type tokenChecker interface {
	CheckToken(ctx context.Context) error
}

// groupCounter is the optional part of a Pusher that counts groups with
// one request (ListGroups also reads each group's member ids).
type groupCounter interface {
	CountGroups(ctx context.Context) (int, error)
}

// CheckBitwarden tries the Bitwarden settings of s — the Settings page's
// "Check connection" — without pushing anything: it fetches a token
// (which proves the organization API key), counts the organization's
// members and groups and reads its seats. Bitwarden's Public API does not
// tell the organization's name (src/Api/AdminConsole/Public/Controllers
// has no GET for the organization), so the result names the organization
// by the id in its API key. It answers within ctx's deadline; errors are
// explained by ExplainBitwarden.
func (e *Engine) CheckBitwarden(ctx context.Context, s config.Settings) (*directory.CheckResult, error) {
	p, err := e.NewPusher(s)
	if err != nil {
		return nil, err
	}
	if tc, ok := p.(tokenChecker); ok {
		if err := tc.CheckToken(ctx); err != nil {
			return nil, err
		}
	}
	where := bitwardenServerName(s.Bitwarden.Server)
	res := &directory.CheckResult{Facts: []directory.Fact{
		{Label: "Server", Value: where},
		{Label: "Organization", Value: orgIDOf(s.Bitwarden.ClientID) + " (the Public API does not tell the organization's name)"},
	}}
	members, err := p.ListMembers(ctx)
	if bitwarden.IsNotListed(err) {
		res.Summary = fmt.Sprintf("Signed in to %s: the organization API key works.", where)
		res.Warnings = append(res.Warnings, "This server does not list members or groups (Vaultwarden?), so dirsync cannot count them; previews are predicted from the last push.")
		return res, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	synced, seated := 0, 0
	for _, m := range members {
		if strings.TrimSpace(m.ExternalID) != "" {
			synced++
		}
		// The seat rule of PredictOrgDiffWith: invited, accepted and
		// confirmed members hold a seat; revoked and staged ones do not.
		if m.Status == bitwarden.MemberStatusInvited || m.Status == bitwarden.MemberStatusAccepted || m.Status == bitwarden.MemberStatusConfirmed {
			seated++
		}
	}
	memberFact := plural(len(members), "member", "members")
	if synced > 0 {
		memberFact += fmt.Sprintf(", %d linked to a directory", synced)
	}
	res.Facts = append(res.Facts, directory.Fact{Label: "Members", Value: memberFact})
	var groups int
	if gc, ok := p.(groupCounter); ok {
		if groups, err = gc.CountGroups(ctx); err != nil {
			return nil, fmt.Errorf("list groups: %w", err)
		}
	} else {
		gs, err := p.ListGroups(ctx)
		if err != nil {
			return nil, fmt.Errorf("list groups: %w", err)
		}
		groups = len(gs)
	}
	res.Facts = append(res.Facts, directory.Fact{Label: "Groups", Value: plural(groups, "group", "groups")})
	if len(members) == 0 && groups == 0 {
		res.Summary = fmt.Sprintf("Signed in to %s: the organization has no members or groups yet.", where)
	} else {
		res.Summary = fmt.Sprintf("Signed in to %s: the organization has %s and %s.", where, plural(len(members), "member", "members"), plural(groups, "group", "groups"))
	}
	seats := fmt.Sprintf("%d in use", seated)
	if sr, ok := p.(seatReader); ok {
		sub, err := sr.Subscription(ctx)
		switch {
		case errors.Is(err, bitwarden.ErrNoSubscription):
			seats += "; a self-hosted server does not tell its seat limit (its license does)"
		case err != nil:
			res.Warnings = append(res.Warnings, "The organization's seats could not be read: "+err.Error())
		case sub.Seats == nil:
			seats += "; no seat limit"
		default:
			seats = fmt.Sprintf("%d in use of %d", seated, *sub.Seats)
			switch {
			case sub.MaxAutoscaleSeats == nil:
				seats += "; Bitwarden buys more as invites need them, with no limit"
			case *sub.MaxAutoscaleSeats > *sub.Seats:
				seats += fmt.Sprintf("; Bitwarden buys more as invites need them, up to %d", *sub.MaxAutoscaleSeats)
			default:
				seats += "; no autoscaling"
			}
			if seated >= *sub.Seats && (sub.MaxAutoscaleSeats != nil && *sub.MaxAutoscaleSeats <= *sub.Seats) {
				res.Warnings = append(res.Warnings, "Every seat is taken and Bitwarden will not buy more: a sync that invites anyone will fail until seats are added.")
			}
		}
	}
	res.Facts = append(res.Facts, directory.Fact{Label: "Seats", Value: seats})
	return res, nil
}

// ExplainBitwarden says what to check after CheckBitwarden (or a run's
// token request) failed with the settings s, most likely cause first; nil
// when nothing better than the error's own text is known.
func ExplainBitwarden(s config.Settings, err error) *directory.Explanation {
	where := bitwardenServerName(s.Bitwarden.Server)
	self := s.Bitwarden.Server != config.ServerUS && s.Bitwarden.Server != config.ServerEU && s.Bitwarden.Server != ""
	var (
		te   *bitwarden.TokenError
		ae   *bitwarden.APIError
		dns  *net.DNSError
		op   *net.OpError
		cert *x509.UnknownAuthorityError
		host x509.HostnameError
	)
	switch {
	case errors.Is(err, bitwarden.ErrInvalidClient):
		hints := []string{
			"Copy the client id and the client secret again from the Bitwarden admin console: Settings → Organization info → View API key. The client id starts with organization.",
			"Check the server: an organization on the EU cloud is unknown to the US cloud (and the other way round), which answers the same way.",
			"The organization's plan must include API access (Teams or Enterprise).",
		}
		if self {
			hints[1] = "Check that the organization lives on this self-hosted server."
		}
		return &directory.Explanation{Summary: where + " refused the organization API key (invalid client id or secret).", Hints: hints}
	case errors.Is(err, context.DeadlineExceeded):
		return &directory.Explanation{Summary: where + " did not answer in time.", Hints: []string{
			"Check that the server is up and that this machine can reach it (a firewall or proxy that drops the connection looks the same).",
			"Try again: a server under load can be slow to answer its first request.",
		}}
	case errors.Is(err, bitwarden.ErrRedirect):
		return &directory.Explanation{Summary: where + " answered with a redirect.", Hints: []string{
			"Enter the address the server redirects to (often https:// instead of http://, or another host name) as the self-hosted server URL.",
		}}
	case errors.As(err, &dns):
		return &directory.Explanation{Summary: "The name of " + where + " does not resolve.", Hints: []string{
			"Check the self-hosted server URL for typing mistakes.",
			"Check that this machine's DNS knows the name (an internal name needs the internal DNS).",
		}}
	case errors.As(err, &cert), errors.As(err, &host):
		return &directory.Explanation{Summary: where + " presented a certificate this machine does not trust.", Hints: []string{
			"Add the certificate authority that signed the server's certificate to this machine's trust store, or give the server a certificate from a public authority.",
			"Check that the URL uses the host name the certificate is for.",
		}}
	case errors.As(err, &op):
		return &directory.Explanation{Summary: "dirsync could not connect to " + where + ".", Hints: []string{
			"Check that the server is running and listening at this address and port.",
			"Check the firewall and any proxy between this machine and the server.",
		}}
	case errors.As(err, &te):
		if te.Status == http.StatusNotFound || te.Status == http.StatusMethodNotAllowed || (te.Status >= 200 && te.Status < 300) || te.Status == 0 {
			return &directory.Explanation{Summary: "There is no Bitwarden identity service at " + te.URL + ".", Hints: []string{
				"Enter the self-hosted server's base URL — the address of its web vault — without /api or /identity.",
				"Check that the address is the Bitwarden server's and not another web server's.",
			}}
		}
		if te.Status >= 500 {
			return &directory.Explanation{Summary: where + " failed to issue a token (" + http.StatusText(te.Status) + ").", Hints: []string{
				"The server or a proxy in front of it is failing: check its logs, or try again later.",
			}}
		}
	case errors.As(err, &ae):
		switch ae.Status {
		case http.StatusUnauthorized, http.StatusForbidden:
			return &directory.Explanation{Summary: where + " accepted the API key but refused to list the organization's members.", Hints: []string{
				"Check the organization's plan: the Public API needs Teams or Enterprise.",
				"Rotate the API key in the admin console and enter the new secret.",
			}}
		}
		if ae.Status >= 500 {
			return &directory.Explanation{Summary: where + " failed to answer (" + http.StatusText(ae.Status) + ").", Hints: []string{
				"The server or a proxy in front of it is failing: check its logs, or try again later.",
			}}
		}
	}
	return nil
}

// bitwardenServerName names a bitwarden.server setting in a sentence.
func bitwardenServerName(server string) string {
	switch server {
	case config.ServerUS, "":
		return "Bitwarden cloud (US)"
	case config.ServerEU:
		return "Bitwarden cloud (EU)"
	}
	return server
}

// orgIDOf is the organization id in an API key's client id
// ("organization.<uuid>").
func orgIDOf(clientID string) string {
	if id, ok := strings.CutPrefix(clientID, "organization."); ok && id != "" {
		return id
	}
	return clientID
}

// plural is "1 member" or "3 members".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
