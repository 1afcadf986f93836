package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"regexp"
	"strings"
	"syscall"

	ldap "github.com/go-ldap/ldap/v3"

	"github.com/dirsync/dirsync/internal/directory"
)

// adBindData is the "data XXX" sub-code of Active Directory's answer to a
// failed bind (result 49), which says why the credentials were refused
// (Microsoft's list of LDAP bind error sub-codes: 525, 52e, 530, 531,
// 532, 533, 701, 773, 775).
var adBindData = regexp.MustCompile(`(?i)\bdata ([0-9a-f]{3,8})\b`)

// adBindReasons maps AD's sub-code to what to check.
var adBindReasons = map[string]string{
	"525": "Active Directory does not know the bind user: check the DN or user@domain name in Bind user.",
	"52e": "Active Directory says the password is wrong for the bind user (or the user does not exist): enter the password again and check Bind user.",
	"530": "The bind user may not sign in at this time of day: change the account's logon hours in Active Directory.",
	"531": "The bind user may not sign in from this machine: change the account's \"Log On To\" workstations in Active Directory.",
	"532": "The bind user's password has expired: set a new one in Active Directory (and consider a service account whose password does not expire), then enter it here.",
	"533": "The bind user's account is disabled in Active Directory: enable it, or use another account.",
	"701": "The bind user's account has expired in Active Directory: extend it, or use another account.",
	"773": "The bind user must change its password before signing in: set a new one in Active Directory, then enter it here.",
	"775": "The bind user's account is locked out in Active Directory, often after repeated wrong passwords: unlock it, then check the password entered here.",
}

// Explain turns an error of Open, Read or Check into what an admin should
// check, or nil when nothing is known beyond the error's own text.
func (s *Settings) Explain(err error) *directory.Explanation {
	if err == nil {
		return nil
	}
	c := s.Config.Normalize()
	text := err.Error()
	var (
		le        *ldap.Error
		ce        *ConfigError
		fe        *FilterError
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
		dnsErr    *net.DNSError
		header    tls.RecordHeaderError
	)
	isLDAP := errors.As(err, &le)
	switch {
	case errors.As(err, &ce):
		return &directory.Explanation{Summary: "The LDAP settings are incomplete or wrong.", Hints: []string{ce.Message}}
	case errors.As(err, &fe):
		return &directory.Explanation{Summary: "The LDAP server cannot use this filter.", Hints: []string{fe.Error()}}
	case errors.Is(err, context.DeadlineExceeded):
		return &directory.Explanation{Summary: "The LDAP server did not answer in time.", Hints: []string{
			"Check that the port is the server's LDAP port (389, 636 for LDAPS) and that no firewall drops the connection silently.",
			"A very large directory may need more time: run the check again, or narrow the user and group paths."}}
	case errors.As(err, &unknownCA) || strings.Contains(text, "certificate signed by unknown authority"):
		return &directory.Explanation{Summary: "The LDAP server's certificate is signed by a CA this machine does not trust.", Hints: []string{
			"Paste the certificate of the CA that signed the server's certificate (PEM, from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----) in CA certificate.",
			"On Active Directory it is the Certificate Services root CA; export it as Base-64 encoded X.509 (.cer).",
			"If a CA certificate is already there, it is not the one that signed this server's certificate."}}
	case errors.As(err, &hostErr) || strings.Contains(text, "certificate is not valid for"):
		return &directory.Explanation{Summary: "The LDAP server's certificate was issued for another name.", Hints: []string{
			"Enter in Server host name a name the certificate carries (its subject alternative names), usually the server's full DNS name rather than an IP address or a short name.",
			"Or have the server's certificate reissued with the name dirsync connects to."}}
	case errors.As(err, &invalid) || strings.Contains(text, "certificate has expired") || strings.Contains(text, "x509:"):
		return &directory.Explanation{Summary: "The LDAP server's certificate was refused.", Hints: []string{
			"Check that the server's certificate has not expired and is a server certificate; renew it on the server.",
			"Check the CA certificate pasted in the settings."}}
	case strings.Contains(text, "(StartTLS)") && isLDAP && le.ResultCode != ldap.ErrorNetwork:
		return &directory.Explanation{Summary: "The LDAP server refused StartTLS.", Hints: []string{
			"The server has no TLS certificate configured for StartTLS: configure one (OpenLDAP: olcTLSCertificateFile; Active Directory: a domain controller certificate), or use LDAPS if the server offers it.",
			"Check that the port is a plain LDAP port (389): StartTLS does not work on the LDAPS port."}}
	case errors.As(err, &header) || strings.Contains(text, "TLS handshake") ||
		// A plain LDAP port hangs up on a TLS hello: LDAPS on port 389.
		(c.SSL && !c.StartTLS && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) && !isLDAP):
		hints := []string{"Check that Connection security matches the port: LDAPS on 636 (3269 for AD's global catalog), StartTLS or none on 389."}
		if c.SSL && !c.StartTLS {
			hints = append(hints, "The server may not offer LDAPS at all: try StartTLS on port 389.")
		}
		return &directory.Explanation{Summary: "The TLS handshake with the LDAP server failed.", Hints: hints}
	case errors.As(err, &dnsErr):
		return &directory.Explanation{Summary: "The LDAP server's host name cannot be resolved.", Hints: []string{
			"Check the spelling of Server host name, and that this machine's DNS knows it (on Active Directory, the domain controllers' DNS)."}}
	case errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(text, "connection refused"):
		return &directory.Explanation{Summary: "The LDAP server refused the connection.", Hints: []string{
			"Check the port: 389 for LDAP and StartTLS, 636 for LDAPS.",
			"Check that the directory server is running and listens on that address."}}
	case isNetTimeout(err) || strings.Contains(text, "i/o timeout") || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH):
		return &directory.Explanation{Summary: "The LDAP server cannot be reached.", Hints: []string{
			"Check the host name and port, and that a firewall between dirsync and the server lets the port through.",
			"The server may be down or overloaded: try again later."}}
	}
	if !isLDAP {
		return nil
	}
	switch le.ResultCode {
	case ldap.LDAPResultInvalidCredentials:
		ex := &directory.Explanation{Summary: "The LDAP server refused the bind user or its password."}
		if m := adBindData.FindStringSubmatch(text); m != nil {
			if reason, ok := adBindReasons[strings.ToLower(m[1])]; ok {
				ex.Hints = append(ex.Hints, reason)
			}
		}
		ex.Hints = append(ex.Hints,
			"Check the password: enter it again (it is write-only, so a wrong one cannot be seen).",
			"Check Bind user: a full DN such as cn=reader,dc=example,dc=com, or on Active Directory reader@example.com.")
		return ex
	case ldap.LDAPResultNoSuchObject:
		return &directory.Explanation{Summary: "A search base does not exist on the LDAP server.", Hints: []string{
			"Check Root path: it must be the directory's base DN, such as dc=example,dc=com.",
			"Check User path and Group path: they are relative to the root path (ou=people, not ou=people,dc=example,dc=com); empty searches the whole root path.",
			"On Active Directory, users and groups created in other OUs are not under the default CN=Users."}}
	case ldap.LDAPResultInsufficientAccessRights:
		return &directory.Explanation{Summary: "The bind user may not read what the sync needs.", Hints: []string{
			"Give the bind user read access to the users and groups under the root path (OpenLDAP: an olcAccess rule; Active Directory: any domain user can read them by default)."}}
	case ldap.LDAPResultStrongAuthRequired, ldap.LDAPResultConfidentialityRequired:
		return &directory.Explanation{Summary: "The LDAP server requires an encrypted connection for the bind.", Hints: []string{
			"Choose LDAPS or StartTLS under Connection security (Active Directory with LDAP signing or channel binding required does this)."}}
	case ldap.LDAPResultUnwillingToPerform:
		return &directory.Explanation{Summary: "The LDAP server is unwilling to perform the request.", Hints: []string{
			"A bind with an empty password is an anonymous bind, which many servers refuse: check the password.",
			"The server may require TLS for binds: choose LDAPS or StartTLS."}}
	case ldap.LDAPResultTimeLimitExceeded:
		return &directory.Explanation{Summary: "A search took longer than its time limit.", Hints: []string{
			"Run the sync again; if it keeps failing, narrow the user and group paths or make the filters cheaper (indexed attributes)."}}
	case ldap.LDAPResultAdminLimitExceeded:
		if strings.Contains(strings.ToLower(text), "page size") {
			// OpenLDAP refuses a page larger than its size.pr; the read
			// asks again with smaller pages, so this is a server that
			// refused them all.
			return &directory.Explanation{Summary: "The LDAP server refused the paged searches dirsync asked for, even with small pages.", Hints: []string{
				"Allow paged searches for the bind user (OpenLDAP: size.pr and size.prtotal in its limits, best unlimited)."}}
		}
		fallthrough
	case ldap.LDAPResultSizeLimitExceeded:
		return &directory.Explanation{Summary: "The LDAP server stopped a search at its size limit.", Hints: []string{
			"dirsync always pages; the server's limit on paged searches is lower than the directory (OpenLDAP: size.prtotal; Active Directory: MaxPageSize). Raise it for the bind user."}}
	case ldap.LDAPResultBusy, ldap.LDAPResultUnavailable:
		return &directory.Explanation{Summary: "The LDAP server is busy or unavailable.", Hints: []string{"Try again later, or point dirsync at another domain controller."}}
	case ldap.LDAPResultFilterError:
		return &directory.Explanation{Summary: "The LDAP server refused a search filter.", Hints: []string{
			"Check the user and group filters and object classes: " + strings.ReplaceAll(FilterHelp, "%s", "values") + "."}}
	case ldap.LDAPResultReferral:
		return &directory.Explanation{Summary: "The LDAP server referred the search elsewhere.", Hints: []string{
			"The root path belongs to another server or domain: connect to a domain controller of that domain, or to the global catalog (port 3268)."}}
	}
	return nil
}

func isNetTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
