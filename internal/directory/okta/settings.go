package okta

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory"
	"github.com/dirsync/dirsync/internal/directory/okta/oauthkey"
	"github.com/dirsync/dirsync/internal/secret"
)

// KindName is directory.type for Okta, and the key of its settings
// section.
const KindName = "okta"

func init() {
	directory.Register(directory.Kind{
		Name: KindName, Title: "Okta", Order: 0,
		New: func() directory.Settings { return NewSettings() },
	})
}

// Field paths of the Okta section: the keys of Validate's messages and the
// console form's input names.
const (
	FieldOrgURL        = "okta.orgUrl"
	FieldAuthMethod    = "okta.authMethod"
	FieldToken         = "okta.token"
	FieldClientID      = "okta.clientId"
	FieldPrivateKey    = "okta.privateKey"
	FieldKeyID         = "okta.keyId"
	FieldConcurrency   = "okta.concurrency"
	FieldShare         = "okta.rateLimitShare"
	FieldFullReadHours = "okta.fullReadHours"
)

// The choices of okta.authMethod.
const (
	AuthToken = "token"
	AuthOAuth = "oauth"
)

// Limits and defaults of the Okta settings (Concurrency and RateLimitShare
// default as Config's do).
const (
	MaxConcurrency       = 32
	DefaultFullReadHours = 24
	maxTokenLen          = 4096
	maxPrivateKeyLen     = 16 << 10
	maxClientIDLen       = 200
)

// Settings is the Okta section of a profile (directory.okta). Its JSON
// names are the settings file's.
type Settings struct {
	OrgURL string `json:"orgUrl"`
	// Token is the SSWS API token. Write-only: never shown, never logged.
	// Either Token or ClientID + PrivateKey (an OAuth 2.0 service app).
	Token secret.Secret `json:"token,omitempty"`
	// ClientID is the client ID of an OAuth 2.0 "API Services" app.
	ClientID string `json:"clientId,omitempty"`
	// PrivateKey is that app's private key in PEM (PKCS#8, PKCS#1 RSA or
	// EC P-256). Write-only like the token.
	PrivateKey secret.Secret `json:"privateKey,omitempty"`
	// KeyID is the key's kid in the app, optional (needed when the app
	// has more than one key).
	KeyID string `json:"keyId,omitempty"`
	// Concurrency bounds parallel member reads (default 4).
	Concurrency int `json:"concurrency,omitempty"`
	// RateLimitShare is the share (0–1] of each Okta rate-limit bucket
	// dirsync may use (default 0.5).
	RateLimitShare float64 `json:"rateLimitShare,omitempty"`
	// FullReadHours forces a full read — every user (ignoring the user
	// cache's delta) and every group's members (ignoring the membership
	// cache) — and a full push at least this often (default 24).
	FullReadHours int `json:"fullReadHours,omitempty"`

	// oauthChosen is the console's choice of the service app: with it,
	// an app whose client ID is still empty is reported as such rather
	// than as a missing API token. Never stored: stored settings say OAuth
	// by their client ID and key.
	oauthChosen bool
}

var _ directory.Settings = (*Settings)(nil)

// NewSettings returns the defaults of a new profile's Okta section.
func NewSettings() *Settings {
	return &Settings{Concurrency: DefaultConcurrency, RateLimitShare: DefaultRateLimitShare, FullReadHours: DefaultFullReadHours}
}

// Of returns a copy of the Okta section of d (a config.Directory), or
// defaults when it has none.
func Of(d interface {
	Section(name string) directory.Settings
}) *Settings {
	if o, ok := d.Section(KindName).(*Settings); ok && o != nil {
		return o
	}
	return NewSettings()
}

// Kind implements directory.Settings.
func (o *Settings) Kind() string { return KindName }

// UsesOAuth reports whether the settings name an OAuth service app
// rather than an API token.
func (o *Settings) UsesOAuth() bool { return o.oauthChosen || o.ClientID != "" || o.PrivateKey.IsSet() }

// Normalize implements directory.Settings.
func (o *Settings) Normalize() {
	o.OrgURL = strings.TrimRight(strings.TrimSpace(o.OrgURL), "/")
	o.Token = secret.Secret(strings.TrimSpace(string(o.Token)))
	o.ClientID = strings.TrimSpace(o.ClientID)
	o.KeyID = strings.TrimSpace(o.KeyID)
	if pk := strings.TrimSpace(string(o.PrivateKey)); pk != "" {
		// PEM ends with a newline; a pasted key may have lost it or gained
		// Windows line ends.
		o.PrivateKey = secret.Secret(strings.ReplaceAll(pk, "\r\n", "\n") + "\n")
	} else {
		o.PrivateKey = ""
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.RateLimitShare == 0 {
		o.RateLimitShare = DefaultRateLimitShare
	}
	if o.FullReadHours == 0 {
		o.FullReadHours = DefaultFullReadHours
	}
}

// Validate implements directory.Settings. Secrets are checked for
// presence only: Okta documents no token format.
func (o *Settings) Validate(requireSecrets bool) map[string]string {
	fe := map[string]string{}
	if err := ValidateOrgURL(o.OrgURL); err != nil {
		fe[FieldOrgURL] = err.Error()
	}
	o.validateAuth(requireSecrets, fe)
	if c := o.Concurrency; c < 1 || c > MaxConcurrency {
		fe[FieldConcurrency] = fmt.Sprintf("must be between 1 and %d (got %d)", MaxConcurrency, c)
	}
	if r := o.RateLimitShare; !(r > 0 && r <= 1) {
		fe[FieldShare] = fmt.Sprintf("must be more than 0 and at most 1 (got %g)", r)
	}
	if h := o.FullReadHours; h < 1 || h > 24*7 {
		fe[FieldFullReadHours] = fmt.Sprintf("must be between 1 and 168 hours (got %d)", h)
	}
	return fe
}

// validateAuth checks that the settings hold exactly one way to
// authenticate to Okta: an API token, or a service app's client ID and
// private key.
func (o *Settings) validateAuth(requireSecrets bool, fe map[string]string) {
	switch {
	case o.Token.IsSet() && o.UsesOAuth():
		fe[FieldToken] = "give either an Okta API token or an OAuth service app (client ID and private key), not both; clear one of them"
	case !o.UsesOAuth():
		if requireSecrets && !o.Token.IsSet() {
			fe[FieldToken] = "the Okta API token is required (Okta admin console → Security → API → Tokens), or use an OAuth service app instead"
		} else if len(o.Token) > maxTokenLen {
			fe[FieldToken] = "the Okta API token is too long"
		}
		if o.KeyID != "" {
			fe[FieldKeyID] = "a key ID is only used with an OAuth service app; clear it, or enter the app's client ID and private key"
		}
	default:
		switch {
		case o.ClientID == "":
			fe[FieldClientID] = "the service app's client ID is required (Okta admin console → Applications → the API Services app → General → Client ID)"
		case len(o.ClientID) > maxClientIDLen || strings.ContainsAny(o.ClientID, " \t\r\n\"'<>"):
			fe[FieldClientID] = "this is not an Okta client ID; copy the Client ID from the app's General tab (it looks like 0oa1b2c3d4EXAMPLE5x7)"
		}
		switch {
		case !o.PrivateKey.IsSet():
			if requireSecrets {
				fe[FieldPrivateKey] = "the service app's private key (PEM) is required: the private half of the public key added under the app's Client Credentials"
			}
		case len(o.PrivateKey) > maxPrivateKeyLen:
			fe[FieldPrivateKey] = "the private key is too long for an RSA or EC key"
		default:
			if _, err := oauthkey.Parse(o.PrivateKey.Reveal()); err != nil {
				fe[FieldPrivateKey] = err.Error()
			}
		}
		if len(o.KeyID) > maxClientIDLen || strings.ContainsAny(o.KeyID, " \t\r\n\"") {
			fe[FieldKeyID] = "this is not a key ID; copy the KID shown next to the key in the app's Client Credentials, or leave it empty"
		}
	}
}

// oktaDomains are the domains Okta serves orgs from; an org's admin
// console is "{org}-admin.{domain}". Custom domains are never admin hosts.
var oktaDomains = []string{"okta.com", "oktapreview.com", "okta-emea.com", "okta-gov.com", "okta.mil", "trexcloud.com"}

// ValidateOrgURL checks okta.orgUrl: an org's origin (scheme, host and
// port only), not a page of it and not its admin console, whose host works
// in a browser but not for the API.
func ValidateOrgURL(raw string) error {
	if err := config.ValidateBaseURL(raw); err != nil {
		return fmt.Errorf(`%v (paste only your org's address, such as "https://acme.okta.com")`, err)
	}
	u, _ := url.Parse(raw) // ValidateBaseURL parsed it
	origin := u.Scheme + "://" + u.Host
	host := strings.ToLower(u.Hostname())
	for _, d := range oktaDomains {
		label, ok := strings.CutSuffix(host, "."+d)
		if org, admin := strings.CutSuffix(label, "-admin"); ok && admin && org != "" && !strings.Contains(org, ".") {
			return fmt.Errorf(`%q is the address of the Okta admin console; use the org's own address, without "-admin": %q`, raw, u.Scheme+"://"+org+"."+d+portSuffix(u))
		}
	}
	if u.Path != "" && u.Path != "/" {
		return fmt.Errorf("%q is a page of the org, not its address; paste only the part before the path: %q", raw, origin)
	}
	return nil
}

func portSuffix(u *url.URL) string {
	if p := u.Port(); p != "" {
		return ":" + p
	}
	return ""
}

// Secrets implements directory.Settings: the token and the service app's
// key, both bound to the org URL.
func (o *Settings) Secrets() []directory.SecretRef {
	bound := KindName + "\x00" + strings.ToLower(o.OrgURL)
	return []directory.SecretRef{
		{Path: FieldToken, Name: "the Okta API token", Value: &o.Token, BoundTo: bound, BoundName: "the Okta org URL",
			Applies: !o.UsesOAuth()},
		// The key is what makes settings OAuth ones; with a client ID
		// given (the form's OAuth choice), a stored key applies.
		{Path: FieldPrivateKey, Name: "the service app's private key", Value: &o.PrivateKey, BoundTo: bound, BoundName: "the Okta org URL",
			Applies: o.ClientID != ""},
	}
}

// Identity implements directory.Settings. It is the org URL alone: config
// and the engine always pair it with directory.type, and so the
// fingerprints of delta reads and read baselines made before the registry
// stay valid.
func (o *Settings) Identity() string { return o.OrgURL }

// FullReadEvery implements directory.Settings (okta.fullReadHours).
func (o *Settings) FullReadEvery() time.Duration { return time.Duration(o.FullReadHours) * time.Hour }

// Filters implements directory.Settings: BDC's grammar with a native Okta
// filter after the bar.
func (o *Settings) Filters() directory.FilterSyntax {
	return directory.FilterSyntax{
		UserHelp:  "Which users to sync: include:a@x.com,b@x.com or exclude:…, and/or a native Okta filter after a bar, such as | status eq \"ACTIVE\". Empty syncs everyone.",
		GroupHelp: "Which groups to sync by name: include:Engineering or exclude:…, and/or a native Okta filter after a bar. An include or exclude list also limits users to members of the kept groups.",
		Parse:     directory.ParseBDCFilter,
	}
}

// Open implements directory.Settings: a client for one run.
func (o *Settings) Open(env directory.Env) (directory.Source, error) {
	return New(o.Config(env))
}

// Config is the client configuration of these settings under env.
func (o *Settings) Config(env directory.Env) Config {
	cfg := Config{
		OrgURL: o.OrgURL, Concurrency: o.Concurrency, RateLimitShare: o.RateLimitShare,
		UserAgent: env.UserAgent, Redact: env.Redact, Logger: env.Logger, Observer: env.Observer,
	}
	if o.UsesOAuth() {
		cfg.OAuth = &OAuth{ClientID: o.ClientID, PrivateKey: o.PrivateKey.Reveal(), KeyID: o.KeyID}
	} else {
		cfg.Token = o.Token.Reveal()
	}
	return cfg
}

// oauthSteps is how to make the OAuth service app in Okta's admin console.
var oauthSteps = []string{
	"In the Okta admin console open Applications → Applications → Create App Integration, choose API Services, name it (for example \"dirsync\") and save.",
	"On its General tab, under Client Credentials, click Edit and set Client authentication to Public key / Private key. Add a key: either let Okta generate one and copy its private key in PEM form (Okta shows it only once), or make one yourself (openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out dirsync-key.pem, or an EC P-256 key) and paste its public key. Save. When the app has more than one key, note the KID of this one.",
	"Under General Settings, Require Demonstrating Proof of Possession (DPoP) header in token requests is on for new apps. Leave it on: dirsync proves each request with a key of its own. dirsync also works with it off (plain Bearer tokens).",
	"On the Okta API Scopes tab, grant okta.users.read and okta.groups.read.",
	"On the Admin roles tab, click Edit assignments, add the Read-only Administrator role and save. Without an admin role every read answers 403.",
	"Copy the Client ID from the General tab and the private key into the fields below.",
}

// Fields implements directory.Settings: the console's Okta section.
func (o *Settings) Fields() []directory.Field {
	text := func(get func(*Settings) string, set func(*Settings, string)) (func(directory.Settings) string, func(directory.Settings, string) error) {
		return func(s directory.Settings) string { return get(s.(*Settings)) },
			func(s directory.Settings, v string) error { set(s.(*Settings), strings.TrimSpace(v)); return nil }
	}
	orgGet, orgSet := text(func(o *Settings) string { return o.OrgURL }, func(o *Settings, v string) { o.OrgURL = v })
	cidGet, cidSet := text(func(o *Settings) string { return o.ClientID }, func(o *Settings, v string) { o.ClientID = v })
	kidGet, kidSet := text(func(o *Settings) string { return o.KeyID }, func(o *Settings, v string) { o.KeyID = v })
	noShow := func(directory.Settings) string { return "" }
	asToken := &directory.Condition{Path: FieldAuthMethod, Value: AuthToken}
	asApp := &directory.Condition{Path: FieldAuthMethod, Value: AuthOAuth}
	// Empty tuning fields mean "use the default" (Normalize fills it); a
	// 0 would silently mean the default too, so it is refused here.
	whole := func(min, max, def int, unit string, dst func(*Settings) *int) func(directory.Settings, string) error {
		return func(s directory.Settings, v string) error {
			p := dst(s.(*Settings))
			*p = 0
			if v = strings.TrimSpace(v); v == "" {
				return nil
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return fmt.Errorf("enter a whole number%s from %d to %d, or leave it empty for %d", unit, min, max, def)
			}
			*p = n
			return nil
		}
	}
	return []directory.Field{
		{Path: FieldOrgURL, Label: "Okta org URL", Kind: directory.FieldURL, Placeholder: "https://acme.okta.com",
			Help: "Your Okta address, such as https://acme.okta.com; a custom domain works too.", Get: orgGet, Set: orgSet},
		{Path: FieldAuthMethod, Label: "How dirsync signs in to Okta", Kind: directory.FieldChoice, Group: "Authentication",
			Help:    "An API token acts with the full rights of the admin who made it and expires after 30 days unused. An OAuth 2.0 service app has only the scopes and admin role you grant it, and is not tied to a person.",
			Options: []directory.Option{{Value: AuthToken, Label: "API token"}, {Value: AuthOAuth, Label: "OAuth service app (recommended by Okta)"}},
			Get: func(s directory.Settings) string {
				if s.(*Settings).UsesOAuth() {
					return AuthOAuth
				}
				return AuthToken
			},
			Set: func(s directory.Settings, v string) error {
				// Only the chosen method's fields are read (the form hides
				// the other's): what the other method had goes, its
				// stored secret included.
				o := s.(*Settings)
				switch strings.TrimSpace(v) {
				case AuthToken:
					o.oauthChosen, o.ClientID, o.KeyID, o.PrivateKey = false, "", "", ""
				case AuthOAuth:
					o.oauthChosen, o.Token = true, ""
				default:
					return fmt.Errorf("choose how dirsync signs in to Okta: an API token or an OAuth service app")
				}
				return nil
			}},
		{Path: FieldToken, Label: "Okta API token", Kind: directory.FieldSecret, Group: "Authentication", ShownWhen: asToken,
			Help: "An API token (Okta admin console → Security → API → Tokens) of an admin allowed to read users and groups. Stored encrypted and never shown again.",
			Get:  noShow, Set: func(s directory.Settings, v string) error {
				s.(*Settings).Token = secret.Secret(strings.TrimSpace(v))
				return nil
			}},
		{Path: FieldClientID, Label: "Client ID", Kind: directory.FieldText, Group: "Authentication", ShownWhen: asApp, Placeholder: "0oa1b2c3d4EXAMPLE5x7",
			StepsTitle: "Set up the service app in Okta, step by step", Steps: oauthSteps,
			Help: "The service app's Client ID, from its General tab (it starts with 0oa).", Get: cidGet, Set: cidSet},
		{Path: FieldPrivateKey, Label: "Private key (PEM)", Kind: directory.FieldSecretTA, Group: "Authentication", ShownWhen: asApp, Placeholder: "-----BEGIN PRIVATE KEY-----",
			Help: "The private half of the key added to the app: PKCS#8 (BEGIN PRIVATE KEY), PKCS#1 (BEGIN RSA PRIVATE KEY, 2048 bits or more) or EC P-256 (BEGIN EC PRIVATE KEY). It only signs dirsync's requests for a token and never leaves this server. Stored encrypted and never shown again.",
			Get:  noShow, Set: func(s directory.Settings, v string) error {
				s.(*Settings).PrivateKey = secret.Secret(strings.TrimSpace(v))
				return nil
			}},
		{Path: FieldKeyID, Label: "Key ID (optional)", Kind: directory.FieldText, Group: "Authentication", ShownWhen: asApp,
			Help: "The KID shown next to the key in the app's Client Credentials. Needed only when the app has more than one key.", Get: kidGet, Set: kidSet},
		{Path: FieldConcurrency, Label: "Okta requests at once", Kind: directory.FieldNumber, Advanced: true,
			Help: "How many Okta requests run in parallel, 1 to 32. Okta limits concurrent requests for the whole org, so keep it small.",
			Get:  func(s directory.Settings) string { return strconv.Itoa(s.(*Settings).Concurrency) },
			Set:  whole(1, MaxConcurrency, DefaultConcurrency, "", func(o *Settings) *int { return &o.Concurrency })},
		{Path: FieldShare, Label: "Share of Okta rate limits", Kind: directory.FieldNumber, Advanced: true,
			Help: "The part of each Okta rate limit dirsync may use, above 0 and at most 1 (0.5 = half); the rest is left to other Okta clients.",
			Get: func(s directory.Settings) string {
				return strconv.FormatFloat(s.(*Settings).RateLimitShare, 'g', -1, 64)
			},
			Set: func(s directory.Settings, v string) error {
				o := s.(*Settings)
				o.RateLimitShare = 0
				if v = strings.TrimSpace(v); v == "" {
					return nil
				}
				x, err := strconv.ParseFloat(v, 64)
				if err != nil || !(x > 0) {
					return fmt.Errorf("enter a decimal number above 0 and at most 1, such as 0.5, or leave it empty for %g", DefaultRateLimitShare)
				}
				o.RateLimitShare = x
				return nil
			}},
		{Path: FieldFullReadHours, Label: "Full read every (hours)", Kind: directory.FieldNumber, Advanced: true,
			Help: "Between full reads dirsync reads only the users Okta changed since the last run, reuses the group members it cached for groups Okta reports unchanged, and sends Bitwarden only what changed; at least this often it reads every user and every group's members again and sends the whole import (1 to 168).",
			Get:  func(s directory.Settings) string { return strconv.Itoa(s.(*Settings).FullReadHours) },
			Set:  whole(1, 168, DefaultFullReadHours, " of hours", func(o *Settings) *int { return &o.FullReadHours })},
	}
}
