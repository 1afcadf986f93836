package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/dirsync/dirsync/internal/directory"
)

// Directory selects the directory type (directory.type) and holds one
// settings section per registered type (directory.okta, directory.ldap,
// …); only the chosen type's section is validated and used. config names
// no type: the sections come from the registry (directory.Kinds).
//
// Directory behaves as a value, as the rest of Settings does: a copy of
// Settings never shares a section with the original. Sections are only
// replaced (SetSection builds a new map), never changed in place, and
// Section and Current return copies.
type Directory struct {
	// Type is the chosen type's Kind.Name.
	Type string `json:"type"`
	// sections maps a Kind.Name to that type's settings.
	sections map[string]directory.Settings
	// extra keeps sections of types this binary does not have (read from
	// the store), so that saving settings does not lose them.
	extra map[string]json.RawMessage
}

// NewDirectory returns a Directory of type typ with every registered
// type's defaults.
func NewDirectory(typ string) Directory {
	d := Directory{Type: typ, sections: map[string]directory.Settings{}}
	for _, k := range directory.Kinds() {
		d.sections[k.Name] = k.New()
	}
	return d
}

// defaultType is the type of a new profile: the first registered type
// (Okta, whose Order is 0).
func defaultType() string {
	if ks := directory.Kinds(); len(ks) > 0 {
		return ks[0].Name
	}
	return ""
}

// clone returns a copy of a section: a new value of the same struct
// (sections hold no pointers, slices or maps of their own that a copy
// would share; Settings values never did).
func clone(s directory.Settings) directory.Settings {
	if s == nil {
		return nil
	}
	v := reflect.ValueOf(s)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return s
	}
	c := reflect.New(v.Elem().Type())
	c.Elem().Set(v.Elem())
	return c.Interface().(directory.Settings)
}

// Section returns a copy of the section of the type named name: the
// stored one, or the type's defaults when there is none; nil when no such
// type is registered.
func (d Directory) Section(name string) directory.Settings {
	if s, ok := d.sections[name]; ok {
		return clone(s)
	}
	if k, ok := directory.Lookup(name); ok {
		return k.New()
	}
	return nil
}

// Current returns a copy of the chosen type's section, nil when
// directory.type names no registered type.
func (d Directory) Current() directory.Settings { return d.Section(d.Type) }

// Kind returns the chosen type, and false when it is not registered.
func (d Directory) Kind() (directory.Kind, bool) { return directory.Lookup(d.Type) }

// SetSection stores a copy of s as the section of its type.
func (d *Directory) SetSection(s directory.Settings) {
	m := make(map[string]directory.Settings, len(d.sections)+1)
	for k, v := range d.sections {
		m[k] = v
	}
	m[s.Kind()] = clone(s)
	d.sections = m
}

// own makes the chosen section private to d and returns it, for writing
// through the pointers its Secrets return.
func (d *Directory) own() directory.Settings {
	cur := d.Current()
	if cur == nil {
		return nil
	}
	d.SetSection(cur)
	return d.sections[cur.Kind()]
}

// sectionNames lists the registered types' names, by Order: the
// sections d can hold.
func (d Directory) sectionNames() []string {
	var out []string
	for _, k := range directory.Kinds() {
		out = append(out, k.Name)
	}
	return out
}

// Edit changes d's section of type T in place of a copy: fn gets a copy,
// and what it leaves is stored. It is the short way for tests and callers
// that know a type: config.Edit(&s.Directory, func(o *okta.Settings) {…}).
func Edit[T directory.Settings](d *Directory, fn func(T)) {
	for _, name := range d.sectionNames() {
		if t, ok := d.Section(name).(T); ok {
			fn(t)
			d.SetSection(t)
			return
		}
	}
	panic(fmt.Sprintf("config.Edit: no registered directory type has settings of type %T", *new(T)))
}

// normalize normalizes the type name and every section.
func (d *Directory) normalize() {
	d.Type = strings.ToLower(strings.TrimSpace(d.Type))
	m := make(map[string]directory.Settings, len(d.sections))
	for _, name := range d.sectionNames() {
		s := d.Section(name)
		s.Normalize()
		m[name] = s
	}
	d.sections = m
}

// MarshalJSON writes {"type":…, "<type>":{…}, …}: every section, so that
// switching types back and forth keeps each one's settings. Secrets
// encode redacted (secret.Secret); the store clears them first.
func (d Directory) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	t, _ := json.Marshal(d.Type)
	b.WriteString(`{"type":`)
	b.Write(t)
	for _, name := range d.sectionNames() {
		js, err := json.Marshal(d.Section(name))
		if err != nil {
			return nil, fmt.Errorf("directory.%s: %w", name, err)
		}
		n, _ := json.Marshal(name)
		b.WriteByte(',')
		b.Write(n)
		b.WriteByte(':')
		b.Write(js)
	}
	for name, raw := range d.extra {
		if _, ok := directory.Lookup(name); ok {
			continue
		}
		n, _ := json.Marshal(name)
		b.WriteByte(',')
		b.Write(n)
		b.WriteByte(':')
		b.Write(raw)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads what MarshalJSON wrote (and the store's rows from
// before the registry, which are the same shape). A section is decoded
// over the section d already holds, so fields missing from the JSON keep
// their defaults when d started from Defaults.
func (d *Directory) UnmarshalJSON(data []byte) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return err
	}
	if obj == nil {
		return nil
	}
	if raw, ok := obj["type"]; ok {
		if err := json.Unmarshal(raw, &d.Type); err != nil {
			return fmt.Errorf("directory.type: %w", err)
		}
	}
	for name, raw := range obj {
		if name == "type" {
			continue
		}
		s := d.Section(name)
		if s == nil {
			if d.extra == nil {
				d.extra = map[string]json.RawMessage{}
			}
			d.extra[name] = raw
			continue
		}
		if err := json.Unmarshal(raw, s); err != nil {
			return fmt.Errorf("directory.%s: %w", name, err)
		}
		d.SetSection(s)
	}
	return nil
}

// String shows the type and every section (secrets print redacted), so
// that fmt shows settings, never pointers, and never a secret.
func (d Directory) String() string {
	var b strings.Builder
	b.WriteString("{" + d.Type)
	for _, name := range d.sectionNames() {
		fmt.Fprintf(&b, " %s:%+v", name, reflect.ValueOf(d.Section(name)).Elem().Interface())
	}
	b.WriteString("}")
	return b.String()
}

// GoString is String, for %#v.
func (d Directory) GoString() string { return d.String() }

// Filters is the chosen type's filter grammar, or BDC's include/exclude
// grammar when the type is unknown or declares no parser (Validate refuses
// an unknown type; the fallback keeps the filters checkable meanwhile).
func (d Directory) Filters() directory.FilterSyntax {
	if cur := d.Current(); cur != nil {
		if f := cur.Filters(); f.Parse != nil {
			return f
		}
	}
	return directory.FilterSyntax{Parse: directory.ParseBDCFilter}
}
