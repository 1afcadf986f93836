package ldap

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/dirsync/dirsync/internal/directory"
	"github.com/dirsync/dirsync/internal/secret"
)

// KindName is the LDAP type's directory.type ("ldap") and the key of its
// settings section.
const KindName = "ldap"

// FieldSecurity is the form's one choice for the two switches ssl and
// startTls (BDC: StartTLS is both on, LDAPS ssl alone).
const FieldSecurity = "ldap.ssl"

// The values of FieldSecurity.
const (
	SecurityNone     = "none"
	SecurityLDAPS    = "ldaps"
	SecurityStartTLS = "starttls"
)

// PresetAD and PresetLDAP are the presets of the fields the ad switch
// changes: the form fills them when ad is turned on or off.
const (
	PresetAD   = "ad"
	PresetLDAP = "ldap"
)

func init() {
	directory.Register(directory.Kind{
		Name: KindName, Title: "LDAP / Active Directory", Order: 1,
		New: func() directory.Settings { return NewSettings() },
	})
}

// Filters is the LDAP filter grammar (see ParseFilter).
func (s *Settings) Filters() directory.FilterSyntax { return filterSyntax() }

// Check connects, binds and counts (see check.go).
func (s *Settings) Check(ctx context.Context, env directory.Env) (*directory.CheckResult, error) {
	src, err := New(s.Config, env.Logger)
	if err != nil {
		return nil, err
	}
	return src.CheckConnection(ctx)
}

// Fields describes the settings for the console, in BDC's order.
func (s *Settings) Fields() []directory.Field {
	str := func(get func(*Config) *string) (func(directory.Settings) string, func(directory.Settings, string) error) {
		return func(st directory.Settings) string { return *get(&st.(*Settings).Config) },
			func(st directory.Settings, v string) error {
				*get(&st.(*Settings).Config) = strings.TrimSpace(v)
				return nil
			}
	}
	boolean := func(get func(*Config) *bool) (func(directory.Settings) string, func(directory.Settings, string) error) {
		return func(st directory.Settings) string { return strconv.FormatBool(*get(&st.(*Settings).Config)) },
			func(st directory.Settings, v string) error {
				switch strings.ToLower(strings.TrimSpace(v)) {
				case "true", "on", "1", "yes":
					*get(&st.(*Settings).Config) = true
				case "", "false", "off", "0", "no":
					*get(&st.(*Settings).Config) = false
				default:
					return fmt.Errorf("Choose on or off.")
				}
				return nil
			}
	}
	field := func(f directory.Field, get func(directory.Settings) string, set func(directory.Settings, string) error) directory.Field {
		f.Get, f.Set = get, set
		return f
	}
	preset := func(ad, generic string) map[string]string {
		return map[string]string{PresetAD: ad, PresetLDAP: generic}
	}
	var fs []directory.Field
	add := func(f directory.Field) { fs = append(fs, f) }

	// Connection.
	g, st := boolean(func(c *Config) *bool { return &c.AD })
	add(field(directory.Field{Path: "ldap.ad", Label: "This is an Active Directory server", Kind: directory.FieldBool, Group: "Connection",
		Help: "Fills the object classes, attributes and paths below with Active Directory's (person, group, mail, name, member, CN=Users) and reads objectGUID and userAccountControl, as Directory Connector's switch does."}, g, st))
	g, st = str(func(c *Config) *string { return &c.Hostname })
	add(field(directory.Field{Path: "ldap.hostname", Label: "Server host name", Kind: directory.FieldText, Group: "Connection",
		Placeholder: "dc1.example.com", Help: "The directory server's host name or IP address, without ldap:// or a port. With TLS it must be a name the server's certificate carries."}, g, st))
	add(field(directory.Field{Path: "ldap.port", Label: "Port", Kind: directory.FieldNumber, Group: "Connection",
		Placeholder: "389", Help: "389 for LDAP and StartTLS, 636 for LDAPS; Active Directory's global catalog answers on 3268 and 3269. Empty: 636 with LDAPS, else 389."},
		func(st directory.Settings) string {
			if p := st.(*Settings).Port; p != 0 {
				return strconv.Itoa(p)
			}
			return ""
		},
		func(st directory.Settings, v string) error {
			v = strings.TrimSpace(v)
			if v == "" {
				st.(*Settings).Port = 0
				return nil
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("Enter the port as a whole number, such as 389.")
			}
			st.(*Settings).Port = n
			return nil
		}))
	add(field(directory.Field{Path: FieldSecurity, Label: "Connection security", Kind: directory.FieldChoice, Group: "Connection",
		Options: []directory.Option{
			{Value: SecurityLDAPS, Label: "LDAPS (TLS from the start, port 636)"},
			{Value: SecurityStartTLS, Label: "StartTLS (plain LDAP upgraded to TLS before the bind, port 389)"},
			{Value: SecurityNone, Label: "None: the password and the directory travel in clear"},
		},
		Help: "The server's certificate is verified against the CA certificate below, or this machine's trusted CAs."},
		func(st directory.Settings) string {
			c := st.(*Settings).Config
			switch {
			case c.SSL && c.StartTLS:
				return SecurityStartTLS
			case c.SSL:
				return SecurityLDAPS
			}
			return SecurityNone
		},
		func(st directory.Settings, v string) error {
			c := &st.(*Settings).Config
			switch strings.TrimSpace(v) {
			case SecurityLDAPS:
				c.SSL, c.StartTLS = true, false
			case SecurityStartTLS:
				c.SSL, c.StartTLS = true, true
			case SecurityNone, "":
				c.SSL, c.StartTLS = false, false
			default:
				return fmt.Errorf("Choose LDAPS, StartTLS or none.")
			}
			return nil
		}))
	g, st = str(func(c *Config) *string { return &c.CACert })
	add(field(directory.Field{Path: "ldap.caCert", Label: "CA certificate (PEM)", Kind: directory.FieldTextArea, Group: "Connection",
		Placeholder: "-----BEGIN CERTIFICATE-----", Help: "The certificate of the CA that signed the server's certificate, for a private or self-signed CA (Active Directory Certificate Services, a FreeIPA CA). Empty: this machine's trusted CAs."}, g, st))
	g, st = str(func(c *Config) *string { return &c.RootPath })
	add(field(directory.Field{Path: "ldap.rootPath", Label: "Root path", Kind: directory.FieldText, Group: "Connection",
		Placeholder: "dc=example,dc=com", Help: "The base DN the user and group paths are relative to. As in Directory Connector, searches start at its first dc= part."}, g, st))

	// Authentication.
	g, st = str(func(c *Config) *string { return &c.Username })
	add(field(directory.Field{Path: "ldap.username", Label: "Bind user", Kind: directory.FieldText, Group: "Authentication",
		Placeholder: "cn=reader,dc=example,dc=com", Help: "The DN of an account that may read users and groups; on Active Directory also reader@example.com or EXAMPLE\\reader. A read-only account is enough."}, g, st))
	add(field(directory.Field{Path: "ldap.password", Label: "Bind password", Kind: directory.FieldSecret, Group: "Authentication",
		Help: "Write-only: never shown again, stored encrypted, and kept only while the server, port, connection security and bind user stay the same. Leave empty to keep the stored one."},
		func(directory.Settings) string { return "" },
		func(st directory.Settings, v string) error {
			if v != "" {
				st.(*Settings).Password = secret.Secret(v)
			}
			return nil
		}))

	// Users.
	g, st = str(func(c *Config) *string { return &c.UserPath })
	add(field(directory.Field{Path: "ldap.userPath", Label: "User path", Kind: directory.FieldText, Group: "Users",
		Placeholder: "ou=people", Presets: preset(ADUserPath, ""), Help: "Where users are searched, relative to the root path (the whole subtree below it). Empty: the whole root path."}, g, st))
	g, st = str(func(c *Config) *string { return &c.UserObjectClass })
	add(field(directory.Field{Path: "ldap.userObjectClass", Label: "User object class", Kind: directory.FieldText, Group: "Users",
		Placeholder: DefaultUserObjectClass, Presets: preset(ADUserObjectClass, DefaultUserObjectClass), Help: "The object class of user entries: inetOrgPerson on most LDAP servers, person on Active Directory."}, g, st))
	g, st = str(func(c *Config) *string { return &c.UserEmailAttribute })
	add(field(directory.Field{Path: "ldap.userEmailAttribute", Label: "Email attribute", Kind: directory.FieldText, Group: "Users",
		Placeholder: DefaultUserEmailAttribute, Presets: preset(ADUserEmailAttribute, DefaultUserEmailAttribute), Help: "The attribute holding a user's email address, which becomes the Bitwarden member's email. Users without one are left out, with a warning."}, g, st))
	g, st = boolean(func(c *Config) *bool { return &c.UseEmailPrefixSuffix })
	add(field(directory.Field{Path: "ldap.useEmailPrefixSuffix", Label: "Build missing emails from a prefix and suffix", Kind: directory.FieldBool, Group: "Users",
		Help: "For users without the email attribute: the prefix attribute's value followed by the suffix, such as jdoe + @example.com."}, g, st))
	g, st = str(func(c *Config) *string { return &c.EmailPrefixAttribute })
	add(field(directory.Field{Path: "ldap.emailPrefixAttribute", Label: "Email prefix attribute", Kind: directory.FieldText, Group: "Users",
		Placeholder: "sAMAccountName", Presets: preset(ADEmailPrefixAttribute, "uid"), ShownWhen: &directory.Condition{Path: "ldap.useEmailPrefixSuffix", Value: "true"},
		Help: "The attribute whose value starts the email address, such as sAMAccountName or uid."}, g, st))
	g, st = str(func(c *Config) *string { return &c.EmailSuffix })
	add(field(directory.Field{Path: "ldap.emailSuffix", Label: "Email suffix", Kind: directory.FieldText, Group: "Users",
		Placeholder: "@example.com", ShownWhen: &directory.Condition{Path: "ldap.useEmailPrefixSuffix", Value: "true"},
		Help: "Added to the prefix as it is, starting with @."}, g, st))

	// Groups.
	g, st = str(func(c *Config) *string { return &c.GroupPath })
	add(field(directory.Field{Path: "ldap.groupPath", Label: "Group path", Kind: directory.FieldText, Group: "Groups",
		Placeholder: "ou=groups", Presets: preset(ADGroupPath, ""), Help: "Where groups are searched, relative to the root path. Empty: the whole root path."}, g, st))
	g, st = str(func(c *Config) *string { return &c.GroupObjectClass })
	add(field(directory.Field{Path: "ldap.groupObjectClass", Label: "Group object class", Kind: directory.FieldText, Group: "Groups",
		Placeholder: DefaultGroupObjectClass, Presets: preset(ADGroupObjectClass, DefaultGroupObjectClass), Help: "The object class of group entries: groupOfNames, groupOfUniqueNames or posixGroup on LDAP servers, group on Active Directory."}, g, st))
	g, st = str(func(c *Config) *string { return &c.GroupNameAttribute })
	add(field(directory.Field{Path: "ldap.groupNameAttribute", Label: "Group name attribute", Kind: directory.FieldText, Group: "Groups",
		Placeholder: DefaultGroupNameAttribute, Presets: preset(ADGroupNameAttribute, DefaultGroupNameAttribute), Help: "The attribute that names a group in Bitwarden (cn if a group has none)."}, g, st))
	g, st = str(func(c *Config) *string { return &c.MemberAttribute })
	add(field(directory.Field{Path: "ldap.memberAttribute", Label: "Member attribute", Kind: directory.FieldText, Group: "Groups",
		Placeholder: DefaultMemberAttribute, Presets: preset(ADMemberAttribute, DefaultMemberAttribute), Help: "The attribute listing a group's members: member (DNs of users or nested groups, which are flattened), uniqueMember, or memberUid (uids, for posixGroup)."}, g, st))

	// Advanced.
	g, st = boolean(func(c *Config) *bool { return &c.SSLAllowUnauthorized })
	add(field(directory.Field{Path: "ldap.sslAllowUnauthorized", Label: "Do not verify the server's certificate", Kind: directory.FieldBool, Group: "Advanced", Advanced: true,
		Help: "Not recommended: whoever answers on the server's address gets the bind password. Paste the CA certificate instead."}, g, st))
	return fs
}
