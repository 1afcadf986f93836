package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/dirsync/dirsync/internal/directory"
	"github.com/dirsync/dirsync/internal/secret"
)

// keepSentinel marks a secret before a section is decoded: one still
// holding it afterwards was left out of the file.
const keepSentinel = secret.Secret("\x00dirsync:keep\x00")

// parseDirectory reads the settings file's directory object into s: the
// type, and each section, strictly, into its type's settings (defaults
// first). A secret left out or given as "[REDACTED]" is recorded in keep.
// Missing parts are reported in fe; a malformed file is an error.
func parseDirectory(raw json.RawMessage, s *Settings, keep *Kept, fe FieldErrors) error {
	if len(raw) == 0 || string(raw) == "null" {
		fe["directory"] = `missing; add {"type":"` + exampleType() + `","` + exampleType() + `":{…}}`
		return nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return fmt.Errorf("settings file: field %q must be an object, not %s", "directory", jsonKind(raw))
	}
	names := make([]string, 0, len(obj))
	for k := range obj {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if k == "type" {
			continue
		}
		if _, ok := directory.Lookup(k); ok {
			continue
		}
		for _, kd := range directory.Kinds() {
			if strings.EqualFold(kd.Name, k) {
				return fmt.Errorf("settings file: unknown key %q in directory; keys are case-sensitive: write %q", k, kd.Name)
			}
		}
		if strings.EqualFold(k, "type") {
			return fmt.Errorf("settings file: unknown key %q in directory; keys are case-sensitive: write %q", k, "type")
		}
		return fmt.Errorf("settings file: unknown key %q in directory; a section is named after its type (%s)", k, typeList())
	}
	if t, ok := obj["type"]; ok {
		if err := json.Unmarshal(t, &s.Directory.Type); err != nil {
			return fmt.Errorf("settings file: field %q must be a string, not %s", "directory.type", jsonKind(t))
		}
	}
	for _, name := range names {
		k, ok := directory.Lookup(name)
		if !ok || string(bytes.TrimSpace(obj[name])) == "null" {
			delete(obj, name) // null: as if left out
			continue
		}
		sec := k.New()
		for _, ref := range sec.Secrets() {
			*ref.Value = keepSentinel
		}
		dec := json.NewDecoder(bytes.NewReader(obj[name]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(sec); err != nil {
			return fmt.Errorf("settings file: directory.%s: %s", name, describeJSONError(err))
		}
		if err := checkKeys(obj[name], reflect.TypeOf(sec), "directory."+name); err != nil {
			return err
		}
		for _, ref := range sec.Secrets() {
			if *ref.Value == keepSentinel || *ref.Value == RedactedSecret {
				*ref.Value = ""
				if name == s.Directory.Type {
					if keep.Directory == nil {
						keep.Directory = map[string]bool{}
					}
					keep.Directory[ref.Path] = true
				}
			}
		}
		refuseZeros(name, obj[name], sec, fe)
		s.Directory.SetSection(sec)
	}
	if _, ok := directory.Lookup(s.Directory.Type); ok {
		if _, given := obj[s.Directory.Type]; !given {
			fe["directory."+s.Directory.Type] = "missing; add the " + s.Directory.Type + " section ({…}, as `dirsync config export` writes it)"
		}
	}
	return nil
}

// refuseZeros reports each number a section gives as 0 that Normalize
// would turn into its default: in a file a 0 written out would so
// silently mean the default, so it is refused instead; leaving the key
// out is how to ask for the default. Found by reflection, so a type's
// new tuning field is covered without a line here.
func refuseZeros(name string, raw json.RawMessage, sec directory.Settings, fe FieldErrors) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return
	}
	norm := clone(sec)
	norm.Normalize()
	rules := sec.Validate(false)
	v, n := reflect.ValueOf(sec).Elem(), reflect.ValueOf(norm).Elem()
	for _, f := range jsonFields(v.Type()) {
		if _, given := obj[f.name]; !given {
			continue
		}
		fv, nv := v.FieldByIndex(f.index), n.FieldByIndex(f.index)
		switch fv.Kind() {
		case reflect.Int, reflect.Int64, reflect.Int32, reflect.Float64, reflect.Float32:
			if fv.IsZero() && !nv.IsZero() {
				msg := "0 is not a valid value"
				if rule := rules[name+"."+f.name]; rule != "" {
					msg += ": it " + strings.TrimSuffix(rule, " (got 0)")
				}
				fe[name+"."+f.name] = fmt.Sprintf("%s; leave the key out for the default (%v)", msg, nv.Interface())
			}
		}
	}
}

// exampleType is the type named in messages about a missing directory.
func exampleType() string {
	if t := defaultType(); t != "" {
		return t
	}
	return "okta"
}

// typeList names the registered types for messages.
func typeList() string {
	var names []string
	for _, k := range directory.Kinds() {
		names = append(names, k.Name)
	}
	if len(names) == 0 {
		return "none registered"
	}
	return strings.Join(names, ", ")
}

// jsonKind names the kind of a JSON value for messages.
func jsonKind(raw json.RawMessage) string {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "valid JSON"
	}
	switch v.(type) {
	case string:
		return "a JSON string"
	case float64:
		return "a JSON number"
	case bool:
		return "a JSON bool"
	case []any:
		return "a JSON array"
	case map[string]any:
		return "a JSON object"
	}
	return "null"
}
