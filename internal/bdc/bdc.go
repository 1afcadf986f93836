// Package bdc reads the data file of Bitwarden Directory Connector (BDC,
// github.com/bitwarden/directory-connector) and turns it into dirsync's
// settings file, the JSON that `dirsync config import` reads, so that a
// BDC installation moves over with one command and every rule of the
// ordinary import applies to the result.
//
// BDC keeps its settings in data.json (libs/services/baseLowdbStorage
// .service.ts), in one of two shapes:
//
//   - state version 5 and later: flat keys (libs/models/state.model.ts,
//     StorageKeys): directoryType (libs/enums/directoryType.ts: 0 LDAP,
//     1 Entra ID, 2 Google Workspace, 3 Okta, 4 OneLogin), organizationId,
//     directoryLdap, directoryOkta, … (one configuration per type), sync
//     (libs/models/syncConfiguration.ts, which also holds the LDAP
//     classes, paths and attributes) and environmentUrls;
//   - state versions 3 and 4: the same objects inside an account
//     (activeUserId → directoryConfigurations, directorySettings,
//     profile.apiKeyClientId, keys.apiKeyClientSecret) and the
//     environment URLs under global (libs/services/state-service/
//     stateMigration.service.ts, migrateStateFrom3To5).
//
// Secrets are not in data.json by default: BDC writes "[STORED SECURELY]"
// in their place and keeps them in the OS keychain (Windows Credential
// Manager, macOS Keychain, libsecret), which dirsync cannot read
// (libs/services/state-service/default-state.service.ts, setDirectory).
// Only with BITWARDENCLI_CONNECTOR_PLAINTEXT_SECRETS=true does the file
// hold them in plain text: the directory's inline, the organization API
// key as apiKeyClientId and apiKeyClientSecret (src-cli/bwdc.ts).
// Convert takes what is there and reports the rest as Missing, for the
// caller to ask for.
package bdc

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/dirsync/dirsync/internal/config"
)

// storedSecurely is BDC's placeholder for a secret kept in the keychain
// (libs/models/state.model.ts).
const storedSecurely = "[STORED SECURELY]"

// BDC's directory types (libs/enums/directoryType.ts).
const (
	typeLDAP     = 0
	typeEntra    = 1
	typeGSuite   = 2
	typeOkta     = 3
	typeOneLogin = 4
)

var typeNames = map[int]string{
	typeLDAP: "LDAP / Active Directory", typeEntra: "Microsoft Entra ID (Azure AD)", typeGSuite: "Google Workspace",
	typeOkta: "Okta", typeOneLogin: "OneLogin",
}

// Options are what the data file may not hold.
type Options struct {
	// Secrets given on the command line or in the environment, by field
	// path (see Secret.Path); they win over the file's.
	Secrets map[string]string
	// ReadFile reads the CA certificate files BDC names by path (nil:
	// os.ReadFile).
	ReadFile func(path string) ([]byte, error)
}

// Secret is a value the file did not hold in plain text.
type Secret struct {
	// Path is the field path in dirsync's settings ("ldap.password").
	Path string
	// Name is how messages call it ("the LDAP bind password").
	Name string
	// Flag and Env name where it can be given without a terminal.
	Flag, Env string
	// Secret is false for a value that is required but not secret (the
	// organization's client id when the file has no organization id).
	Secret bool
}

// Result is a converted data file.
type Result struct {
	// Took and Left say, one line each, what the file gave and what it
	// had that dirsync leaves out, with why.
	Took, Left []string
	// Missing are the values still needed (Fill them, then File).
	Missing []Secret

	doc map[string]any
}

// The secrets Convert can ask for, with their flags.
var (
	secretLDAP     = Secret{Path: "ldap.password", Name: "the LDAP bind password", Flag: "--ldap-password", Env: "DIRSYNC_LDAP_PASSWORD", Secret: true}
	secretOkta     = Secret{Path: "okta.token", Name: "the Okta API token", Flag: "--okta-token", Env: "DIRSYNC_OKTA_TOKEN", Secret: true}
	secretClientID = Secret{Path: config.FieldBWClientID, Name: "the organization API key's client id (organization.…)", Flag: "--bitwarden-client-id", Env: "DIRSYNC_BITWARDEN_CLIENT_ID"}
	secretBW       = Secret{Path: config.FieldBWClientSecret, Name: "the organization API key's client secret", Flag: "--bitwarden-client-secret", Env: "DIRSYNC_BITWARDEN_CLIENT_SECRET", Secret: true}
)

// Secrets lists every value Convert may report as Missing, for the
// caller's flags.
func Secrets() []Secret { return []Secret{secretLDAP, secretOkta, secretClientID, secretBW} }

// Fill sets a missing value and drops it from Missing.
func (r *Result) Fill(path, value string) {
	if !r.set(path, value) {
		return
	}
	for i, m := range r.Missing {
		if m.Path == path {
			r.Missing = append(r.Missing[:i], r.Missing[i+1:]...)
			break
		}
	}
}

func (r *Result) set(path, value string) bool {
	section, key, _ := strings.Cut(path, ".")
	var m map[string]any
	switch section {
	case "bitwarden", "sync":
		m, _ = r.doc[section].(map[string]any)
	default:
		dir, _ := r.doc["directory"].(map[string]any)
		m, _ = dir[section].(map[string]any)
	}
	if m == nil {
		return false
	}
	m[key] = value
	return true
}

// File is dirsync's settings file, for `config import`.
func (r *Result) File() []byte {
	b, err := json.MarshalIndent(r.doc, "", "  ")
	if err != nil { // a map of strings, numbers and booleans
		panic(err)
	}
	return append(b, '\n')
}

// Convert reads a BDC data.json.
func Convert(data []byte, o Options) (*Result, error) {
	if o.ReadFile == nil {
		o.ReadFile = os.ReadFile
	}
	var root map[string]json.RawMessage
	if err := json.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("the file is not a Directory Connector data.json (it is not a JSON object: %v)", err)
	}
	st, err := readState(root)
	if err != nil {
		return nil, err
	}
	r := &Result{doc: map[string]any{}}
	c := converter{r: r, st: st, o: o}
	if err := c.directory(); err != nil {
		return nil, err
	}
	c.bitwarden()
	c.sync()
	if len(st.lastSyncHash) > 0 {
		r.Left = append(r.Left, "Directory Connector's sync state (last sync hash, delta tokens): dirsync starts fresh, so its first sync sends the whole import; Bitwarden applies it as an update, nobody is invited twice")
	}
	sort.SliceStable(r.Missing, func(i, j int) bool { return r.Missing[i].Path < r.Missing[j].Path })
	for path, v := range o.Secrets {
		if v != "" {
			r.Fill(path, v)
		}
	}
	return r, nil
}

// state is the part of data.json the converter reads, from either shape.
type state struct {
	version        int
	directoryType  *int
	organizationID string
	configs        map[int]map[string]any // by BDC directory type
	sync           map[string]any
	env            map[string]any
	clientID       string
	clientSecret   string
	// legacy secrets of state v3/v4 in plain text, by BDC's key suffix
	// ("ldapPassword", "oktaToken").
	legacy       map[string]string
	lastSyncHash string
}

func readState(root map[string]json.RawMessage) (*state, error) {
	obj := func(raw json.RawMessage) map[string]any {
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		return m
	}
	str := func(raw json.RawMessage) string {
		var s string
		_ = json.Unmarshal(raw, &s)
		return s
	}
	st := &state{configs: map[int]map[string]any{}, legacy: map[string]string{}}
	_ = json.Unmarshal(root["stateVersion"], &st.version)
	if _, flat := root["directoryType"]; flat || root["directoryLdap"] != nil || root["directoryOkta"] != nil || root["sync"] != nil {
		var t int
		if err := json.Unmarshal(root["directoryType"], &t); err == nil && root["directoryType"] != nil {
			st.directoryType = &t
		}
		st.organizationID = str(root["organizationId"])
		for typ, key := range map[int]string{typeLDAP: "directoryLdap", typeEntra: "directoryEntra", typeGSuite: "directoryGsuite", typeOkta: "directoryOkta", typeOneLogin: "directoryOnelogin"} {
			if m := obj(root[key]); m != nil {
				st.configs[typ] = m
			}
		}
		st.sync = obj(root["sync"])
		st.env = obj(root["environmentUrls"])
		st.clientID = str(root["apiKeyClientId"])
		st.clientSecret = str(root["apiKeyClientSecret"])
		// Plain-text secrets of configurations saved by the keychain
		// code path ("secretLdap" or "secretLdap:<config id>").
		for key, raw := range root {
			for prefix, name := range map[string]string{"secretLdap": "ldapPassword", "secretOkta": "oktaToken"} {
				if key == prefix || strings.HasPrefix(key, prefix+":") {
					if v := str(raw); v != "" {
						st.legacy[name] = v
					}
				}
			}
		}
		st.lastSyncHash = str(root["lastSyncHash"])
		return st, nil
	}
	if user := str(root["activeUserId"]); user != "" {
		acct := obj(root[user])
		if acct == nil {
			return nil, fmt.Errorf("the file names the account %q but holds no settings for it: open it once with a current Directory Connector, then try again", user)
		}
		dirs, _ := acct["directoryConfigurations"].(map[string]any)
		for typ, key := range map[int]string{typeLDAP: "ldap", typeEntra: "entra", typeGSuite: "gsuite", typeOkta: "okta", typeOneLogin: "oneLogin"} {
			if m, ok := dirs[key].(map[string]any); ok {
				st.configs[typ] = m
			}
		}
		if m, ok := dirs["azure"].(map[string]any); ok && st.configs[typeEntra] == nil {
			st.configs[typeEntra] = m
		}
		set, _ := acct["directorySettings"].(map[string]any)
		if t, ok := set["directoryType"].(float64); ok {
			n := int(t)
			st.directoryType = &n
		}
		st.organizationID, _ = set["organizationId"].(string)
		st.sync, _ = set["sync"].(map[string]any)
		st.lastSyncHash, _ = set["lastSyncHash"].(string)
		if p, ok := acct["profile"].(map[string]any); ok {
			st.clientID, _ = p["apiKeyClientId"].(string)
		}
		if k, ok := acct["keys"].(map[string]any); ok {
			st.clientSecret, _ = k["apiKeyClientSecret"].(string)
		}
		if g := obj(root["global"]); g != nil {
			st.env, _ = g["environmentUrls"].(map[string]any)
		}
		for _, name := range []string{"ldapPassword", "oktaToken"} {
			if v := str(root[user+"_"+name]); v != "" {
				st.legacy[name] = v
			}
		}
		return st, nil
	}
	return nil, errors.New("the file is not a Directory Connector data.json: it has neither directoryType nor an account (activeUserId); " +
		"find it with `bwdc data-file`, or in Directory Connector's data folder (see the README, \"Moving from BDC\")")
}

type converter struct {
	r  *Result
	st *state
	o  Options
}

func (c *converter) took(format string, a ...any) {
	c.r.Took = append(c.r.Took, fmt.Sprintf(format, a...))
}
func (c *converter) left(format string, a ...any) {
	c.r.Left = append(c.r.Left, fmt.Sprintf(format, a...))
}

// secret is a secret as the file holds it: "" when it is in the keychain
// or absent.
func secretValue(v any) string {
	s, _ := v.(string)
	if s == storedSecurely {
		return ""
	}
	return s
}

func (c *converter) directory() error {
	if c.st.directoryType == nil {
		return errors.New("the Directory Connector file has no directory type (directoryType): choose the directory in Directory Connector and save, or write dirsync's settings file by hand")
	}
	typ := *c.st.directoryType
	name, known := typeNames[typ]
	if !known {
		return fmt.Errorf("the Directory Connector file has the unknown directory type %d; dirsync reads Okta (3) and LDAP / Active Directory (0)", typ)
	}
	for other, cfg := range c.st.configs {
		if other != typ && len(cfg) > 0 {
			c.left("the %s configuration that is not the selected directory: dirsync imports the selected one (%s)", typeNames[other], name)
		}
	}
	cfg := c.st.configs[typ]
	if cfg == nil {
		cfg = map[string]any{}
	}
	switch typ {
	case typeOkta:
		c.okta(cfg)
	case typeLDAP:
		c.ldap(cfg)
	default:
		return fmt.Errorf("Directory Connector syncs from %s here, which dirsync cannot read yet: it reads Okta and LDAP / Active Directory. Nothing was imported", name)
	}
	return nil
}

func (c *converter) okta(cfg map[string]any) {
	sec := map[string]any{}
	c.r.doc["directory"] = map[string]any{"type": "okta", "okta": sec} // the Okta type's name and section (internal/directory/okta)
	c.took("directory: Okta")
	if u, _ := cfg["orgUrl"].(string); u != "" {
		sec["orgUrl"] = u
		c.took("okta.orgUrl: %s", u)
	}
	if t := firstNonEmpty(secretValue(cfg["token"]), c.st.legacy["oktaToken"]); t != "" {
		sec["token"] = t
		c.took("okta.token: from the file (it was stored in plain text)")
	} else {
		c.r.Missing = append(c.r.Missing, secretOkta)
	}
}

// The LDAP fields of BDC's sync configuration (syncConfiguration.ts),
// which dirsync keeps in directory.ldap.
var ldapSyncStrings = []string{"userObjectClass", "groupObjectClass", "userPath", "groupPath", "groupNameAttribute",
	"userEmailAttribute", "memberAttribute", "emailPrefixAttribute", "emailSuffix"}

func (c *converter) ldap(cfg map[string]any) {
	sec := map[string]any{}
	c.r.doc["directory"] = map[string]any{"type": "ldap", "ldap": sec}
	c.took("directory: LDAP / Active Directory")
	var taken []string
	take := func(key string, v any) {
		sec[key] = v
		taken = append(taken, key)
	}
	for _, key := range []string{"hostname", "rootPath", "username"} {
		if s, ok := cfg[key].(string); ok && s != "" {
			take(key, s)
		}
	}
	if p, ok := cfg["port"].(float64); ok && p != 0 {
		take("port", int(p))
	}
	ssl, _ := cfg["ssl"].(bool)
	startTLS, _ := cfg["startTls"].(bool)
	if startTLS && !ssl {
		// BDC's bind uses StartTLS only when ssl is on too
		// (ldap-directory.service.ts, bind): this connected in clear.
		c.left("startTls without ssl: Directory Connector ignores it and connects without TLS, and so does this import; choose StartTLS in Settings to encrypt the connection")
		startTLS = false
	}
	take("ssl", ssl)
	take("startTls", startTLS)
	for _, key := range []string{"sslAllowUnauthorized", "ad", "pagedSearch"} {
		if b, ok := cfg[key].(bool); ok {
			take(key, b)
		}
	}
	// BDC reads the CA from sslCaPath for LDAPS and tlsCaPath for
	// StartTLS (ldap-directory.service.ts, buildTlsOptions).
	caKey := "sslCaPath"
	if startTLS {
		caKey = "tlsCaPath"
	}
	if ssl {
		if p, _ := cfg[caKey].(string); p != "" {
			pem, err := c.o.ReadFile(p)
			switch {
			case err != nil:
				c.left("%s %s: the file cannot be read here (%v); paste the CA certificate in Settings (ldap.caCert), or the server's certificate will be checked against this machine's CAs", caKey, p, err)
			case !strings.Contains(string(pem), "-----BEGIN CERTIFICATE-----"):
				c.left("%s %s: the file is not a PEM certificate; paste the CA certificate in Settings (ldap.caCert)", caKey, p)
			default:
				take("caCert", string(pem))
			}
		}
	}
	if p, _ := cfg["sslCertPath"].(string); p != "" {
		c.left("sslCertPath and sslKeyPath (a TLS client certificate): dirsync binds with the user and password only")
	}
	if cu, _ := cfg["currentUser"].(bool); cu {
		c.left("currentUser (bind as the Windows account that runs Directory Connector): dirsync binds with a user and password; enter them in Settings")
	}
	for _, key := range ldapSyncStrings {
		v, present := c.st.sync[key]
		switch s, _ := v.(string); {
		case !present || v == nil:
			// Absent or null: dirsync's default, as BDC's (with ad on,
			// the paths become CN=Users).
		default:
			take(key, s)
		}
	}
	if b, ok := c.st.sync["useEmailPrefixSuffix"].(bool); ok {
		take("useEmailPrefixSuffix", b)
	}
	c.took("ldap: %s", strings.Join(taken, ", "))
	for _, key := range []string{"creationDateAttribute", "revisionDateAttribute"} {
		if s, _ := c.st.sync[key].(string); s != "" {
			c.left("sync.%s (%s, for Directory Connector's reads of changes only): dirsync reads the whole directory every time", key, s)
		}
	}
	if pw := firstNonEmpty(secretValue(cfg["password"]), c.st.legacy["ldapPassword"]); pw != "" {
		sec["password"] = pw
		c.took("ldap.password: from the file (it was stored in plain text)")
	} else {
		c.r.Missing = append(c.r.Missing, secretLDAP)
	}
}

func (c *converter) bitwarden() {
	bw := map[string]any{}
	c.r.doc["bitwarden"] = bw
	server, note := serverOf(c.st.env)
	if server != "" {
		bw["server"] = server
		c.took("bitwarden.server: %s%s", server, note)
	} else {
		c.left("%s", note)
	}
	id := c.st.clientID
	from := "apiKeyClientId"
	if id == "" && c.st.organizationID != "" {
		id, from = "organization."+c.st.organizationID, "organizationId"
	}
	if id != "" {
		bw["clientId"] = id
		c.took("bitwarden.clientId: %s (from %s)", id, from)
	} else {
		c.r.Missing = append(c.r.Missing, secretClientID)
	}
	if s := secretValue(c.st.clientSecret); s != "" {
		bw["clientSecret"] = s
		c.took("bitwarden.clientSecret: from the file (it was stored in plain text)")
	} else {
		c.r.Missing = append(c.r.Missing, secretBW)
	}
}

// serverOf maps BDC's environment URLs (libs/services/environment/
// environment.service.ts: api and identity default to base + /api and
// base + /identity, else bitwarden.com's) to bitwarden.server. The note
// says where it came from, or (with no server) why it was left out.
func serverOf(env map[string]any) (server, note string) {
	get := func(k string) string {
		s, _ := env[k].(string)
		return strings.TrimRight(strings.TrimSpace(s), "/")
	}
	base, api, identity := get("base"), get("api"), get("identity")
	host := func(u string) string {
		p, err := url.Parse(u)
		if err != nil {
			return ""
		}
		return strings.ToLower(p.Hostname())
	}
	switch {
	case base == "" && api == "" && identity == "":
		return config.ServerUS, " (Directory Connector's default, bitwarden.com)"
	case base != "":
		switch host(base) {
		case "bitwarden.com", "vault.bitwarden.com":
			return config.ServerUS, " (from environmentUrls.base " + base + ")"
		case "bitwarden.eu", "vault.bitwarden.eu":
			return config.ServerEU, " (from environmentUrls.base " + base + ")"
		}
		if (api != "" && api != base+"/api") || (identity != "" && identity != base+"/identity") {
			return base, " (from environmentUrls.base; its separate api and identity URLs were left out: dirsync uses base/api and base/identity)"
		}
		return base, " (from environmentUrls.base)"
	case host(api) == "api.bitwarden.eu" && host(identity) == "identity.bitwarden.eu":
		return config.ServerEU, " (from environmentUrls.api and .identity)"
	case host(api) == "api.bitwarden.com" && (identity == "" || host(identity) == "identity.bitwarden.com"):
		return config.ServerUS, " (from environmentUrls.api)"
	case strings.HasSuffix(api, "/api") && identity == strings.TrimSuffix(api, "/api")+"/identity":
		b := strings.TrimSuffix(api, "/api")
		return b, " (the base of environmentUrls.api and .identity)"
	}
	return "", fmt.Sprintf("environmentUrls (api %q, identity %q): dirsync needs one base URL of the server; set bitwarden.server in Settings", api, identity)
}

func (c *converter) sync() {
	s := map[string]any{}
	c.r.doc["sync"] = s
	src := c.st.sync
	if src == nil {
		c.left("sync: the file has no sync options; dirsync's defaults apply (users and groups, every 5 minutes)")
		return
	}
	var taken []string
	for _, key := range []string{"users", "groups", "removeDisabled", "overwriteExisting", "largeImport"} {
		if b, ok := src[key].(bool); ok {
			s[key] = b
			taken = append(taken, key)
		}
	}
	// State version 8 set inviteUsersAfterProvisioning on every older
	// configuration to true, BDC's behaviour before the option
	// (libs/enums/stateVersion.ts; stateMigration.service.ts).
	if b, ok := src["inviteUsersAfterProvisioning"].(bool); ok {
		s["inviteUsers"] = b
	} else {
		s["inviteUsers"] = true
	}
	taken = append(taken, "inviteUsers")
	for _, key := range []string{"userFilter", "groupFilter"} {
		if f, _ := src[key].(string); strings.TrimSpace(f) != "" {
			s[key] = f
			taken = append(taken, key)
		}
	}
	// BDC: an interval of 0 or less is none, under 5 is 5 (libs/utils.ts,
	// adjustConfigForSave). dirsync always schedules, every 5 minutes at
	// least.
	interval := config.MinIntervalMinutes
	if n, ok := src["interval"].(float64); ok && n >= config.MinIntervalMinutes {
		interval = int(n)
	} else {
		was := fmt.Sprintf("%v minutes", src["interval"])
		if src["interval"] == nil {
			was = "not set (no scheduled syncs)"
		}
		c.left("sync.interval %s: dirsync schedules a sync every %d minutes at the least, so it is %d; change it in Settings", was, config.MinIntervalMinutes, config.MinIntervalMinutes)
	}
	s["intervalMinutes"] = interval
	taken = append(taken, "intervalMinutes")
	c.took("sync: %s", strings.Join(taken, ", "))
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
