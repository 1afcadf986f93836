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
// JSON names ("directory.okta.orgUrl"). An embedded struct without a JSON
// name is flattened, as encoding/json does.
func walkFields(v reflect.Value, path string, fn func(path string, v reflect.Value)) {
	if v.Kind() != reflect.Struct {
		fn(path, v)
		return
	}
	for _, f := range jsonFields(v.Type()) {
		name := f.name
		if path != "" {
			name = path + "." + name
		}
		walkFields(v.FieldByIndex(f.index), name, fn)
	}
}

// jsonField is one field of a struct as encoding/json sees it.
type jsonField struct {
	name  string
	index []int
	typ   reflect.Type
}

// jsonFields lists the exported fields of struct type t by JSON name,
// flattening embedded structs that have no JSON name of their own.
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for _, sub := range jsonFields(f.Type) {
				sub.index = append([]int{i}, sub.index...)
				out = append(out, sub)
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, jsonField{name: name, index: []int{i}, typ: f.Type})
	}
	return out
}

// SectionField is one setting of a directory type's section, found by
// reflection: its path ("okta.orgUrl", "<type>.<JSON name>") and value.
type SectionField struct {
	Path  string
	Value reflect.Value
}

// SectionFields lists every setting of sec by path, in struct order (the
// store's list of changed fields walks it, so that a type's fields are
// covered without naming them).
func SectionFields(sec directory.Settings) []SectionField {
	return StructFields(sec.Kind(), sec)
}

// StructFields lists every JSON field of the struct ptr points to, by path
// prefix + "." + its JSON name, in struct order (embedded structs
// flattened as encoding/json does).
func StructFields(prefix string, ptr any) []SectionField {
	v := reflect.ValueOf(ptr).Elem()
	var out []SectionField
	for _, f := range jsonFields(v.Type()) {
		out = append(out, SectionField{Path: prefix + "." + f.name, Value: v.FieldByIndex(f.index)})
	}
	return out
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
		for _, f := range jsonFields(t) {
			fields[f.name] = f.typ
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
