package config

// Rules that apply to every field of a kind, found by reflection so that a
// field added to Settings or to the file shape is covered without a line
// here: settings-file keys matched exactly, finite numbers, no control
// characters in single-line text. A directory type's section is walked
// as its own struct, with paths "<type>.<json name>" ("okta.token").

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"unicode"

	"github.com/dirsync/dirsync/internal/directory"
)

// multiLine reports the text fields where a line break is part of the
// value: the webhook list and a directory type's multi-line fields (a
// PEM key or certificate).
func multiLine(s Settings) map[string]bool {
	m := map[string]bool{FieldWebhooks: true}
	if cur := s.Directory.Current(); cur != nil {
		for _, f := range cur.Fields() {
			if f.Kind == directory.FieldTextArea || f.Kind == directory.FieldSecretTA {
				m[f.Path] = true
			}
		}
	}
	return m
}

// checkFields adds to fe, for every field of s not already in it: a number
// that is NaN or infinite (JSON cannot store it, so saving would fail
// later), and text with a control character (a CR or LF pasted into a
// token would break the HTTP header it is sent in). Secret values are
// never repeated in the message.
func checkFields(s Settings, fe FieldErrors) {
	multi := multiLine(s)
	check := func(path string, v reflect.Value) {
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
				if r == '\n' && multi[path] {
					continue
				}
				if unicode.IsControl(r) {
					fe[path] = fmt.Sprintf("contains a control character (%s) at position %d; paste the value alone, on one line", controlName(r), i+1)
					break
				}
			}
		}
	}
	walkFields(reflect.ValueOf(s), "", check)
	// The chosen section, as the FieldErrors paths name it ("okta.token");
	// the other types' sections are not used, so not checked.
	if cur := s.Directory.Current(); cur != nil {
		walkFields(reflect.ValueOf(cur).Elem(), cur.Kind(), check)
	}
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
