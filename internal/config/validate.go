package config

// Rules that apply to every field of a kind, found by reflection so that a
// field added to Settings or to the file shape is covered without a line
// here: settings-file keys matched exactly, finite numbers, no control
// characters in single-line text. And the Okta org URL's own rule.

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"unicode"
)

// oktaDomains are the domains Okta serves orgs from; an org's admin
// console is "{org}-admin.{domain}". Custom domains are never admin hosts.
var oktaDomains = []string{"okta.com", "oktapreview.com", "okta-emea.com", "okta-gov.com", "okta.mil", "trexcloud.com"}

// ValidateOktaOrgURL checks okta.orgUrl: an org's origin (scheme, host and
// port only), not a page of it and not its admin console, whose host works
// in a browser but not for the API.
func ValidateOktaOrgURL(raw string) error {
	if err := ValidateBaseURL(raw); err != nil {
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

// multiLine are the text fields where a line break is part of the value.
var multiLine = map[string]bool{FieldWebhooks: true, FieldOktaPrivateKey: true}

// checkFields adds to fe, for every field of s not already in it: a number
// that is NaN or infinite (JSON cannot store it, so saving would fail
// later), and text with a control character (a CR or LF pasted into a
// token would break the HTTP header it is sent in). Secret values are
// never repeated in the message.
func checkFields(s Settings, fe FieldErrors) {
	walkFields(reflect.ValueOf(s), "", func(path string, v reflect.Value) {
		if rest, ok := strings.CutPrefix(path, "directory.okta."); ok {
			path = "okta." + rest // the FieldErrors paths: "okta.token"
		}
		if _, done := fe[path]; done {
			return
		}
		switch v.Kind() {
		case reflect.Float32, reflect.Float64:
			if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
				fe[path] = fmt.Sprintf("must be a number (got %v)", f)
			}
		case reflect.String:
			for i, r := range v.String() {
				if r == '\n' && multiLine[path] {
					continue
				}
				if unicode.IsControl(r) {
					fe[path] = fmt.Sprintf("contains a control character (%s) at position %d; paste the value alone, on one line", controlName(r), i+1)
					break
				}
			}
		}
	})
}

func controlName(r rune) string {
	switch r {
	case '\r':
		return "a carriage return"
	case '\n':
		return "a line break"
	case '\t':
		return "a tab"
	}
	return fmt.Sprintf("U+%04X", r)
}

// walkFields calls fn for every leaf of a struct value, with its path of
// JSON names ("directory.okta.orgUrl").
func walkFields(v reflect.Value, path string, fn func(path string, v reflect.Value)) {
	if v.Kind() != reflect.Struct {
		fn(path, v)
		return
	}
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if path != "" {
			name = path + "." + name
		}
		walkFields(v.Field(i), name, fn)
	}
}

// checkKeys matches every object key of a settings file exactly against
// the JSON names of t (the File shape): encoding/json would take "ORGURL"
// for "orgUrl", and a key in the wrong case is most often a key from
// something else. New fields of the file shape are covered by their tags.
func checkKeys(data json.RawMessage, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		var obj map[string]json.RawMessage
		if json.Unmarshal(data, &obj) != nil {
			return nil // not an object: the decoder reports the type
		}
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.IsExported() && name != "" && name != "-" {
				fields[name] = f.Type
			}
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			at := k
			if path != "" {
				at = path + "." + k
			}
			ft, ok := fields[k]
			if !ok {
				where := "at the top level"
				if path != "" {
					where = "in " + path
				}
				for name := range fields {
					if strings.EqualFold(name, k) {
						return fmt.Errorf("settings file: unknown key %q %s; keys are case-sensitive: write %q", k, where, name)
					}
				}
				return fmt.Errorf("settings file: unknown key %q %s; check the spelling against `dirsync config export`", k, where)
			}
			if err := checkKeys(obj[k], ft, at); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		var items []json.RawMessage
		if json.Unmarshal(data, &items) != nil {
			return nil
		}
		for i, it := range items {
			if err := checkKeys(it, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// zeroMeansDefault lists the fields Normalize fills with their default when
// they are 0. In a settings file a 0 written out would so silently mean the
// default, so ParseFile refuses it instead; leaving the key out is how to
// ask for the default.
var zeroMeansDefault = []struct {
	path string
	zero func(s Settings) bool
	rule string
}{
	{FieldOktaConcurrency, func(s Settings) bool { return s.Directory.Okta.Concurrency == 0 },
		fmt.Sprintf("between 1 and %d (default %d)", MaxConcurrency, DefaultConcurrency)},
	{FieldOktaShare, func(s Settings) bool { return s.Directory.Okta.RateLimitShare == 0 },
		fmt.Sprintf("more than 0 and at most 1 (default %g)", DefaultRateLimitShare)},
	{FieldFullReadHours, func(s Settings) bool { return s.Directory.Okta.FullReadHours == 0 },
		fmt.Sprintf("between 1 and 168 hours (default %d)", DefaultFullReadHours)},
}

// refuseZeros adds an error for each zeroMeansDefault field that is 0.
func refuseZeros(s Settings, fe FieldErrors) {
	for _, z := range zeroMeansDefault {
		if z.zero(s) {
			fe[z.path] = "0 is not a valid value: it must be " + z.rule + "; leave the key out for the default"
		}
	}
}
