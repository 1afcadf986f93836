package server

import (
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory"
	"github.com/dirsync/dirsync/web"
)

// The Settings form's directory part is built from the registry: the
// chosen type's fields (directory.Settings.Fields) are read through each
// field's Set, and every registered type's fields are shown through its
// Get, so that a new type needs nothing here.

// readDirectory reads the chosen type's posted fields into st through
// their Set, and reports which fields were shown (and so read). A field
// shown only for a value of another (ShownWhen) is read only while that
// value is posted; hidden, it keeps its value. A choice missing from the
// post (an older page, a script) keeps its value and hides nothing. Set's
// complaints go to errs by path.
func readDirectory(form url.Values, st *config.Settings, errs web.FormErrors) map[string]bool {
	cur := st.Directory.Current()
	if cur == nil {
		return nil
	}
	fields := cur.Fields()
	kinds := map[string]directory.FieldKind{}
	for _, f := range fields {
		kinds[f.Path] = f.Kind
	}
	shown := map[string]bool{}
	for _, f := range fields {
		if !conditionHolds(form, kinds, f.ShownWhen) {
			continue
		}
		shown[f.Path] = true
		if f.Kind == directory.FieldChoice && !form.Has(f.Path) {
			continue
		}
		if f.Set == nil {
			continue
		}
		if err := f.Set(cur, postedValue(form, f)); err != nil {
			errs[f.Path] = err.Error()
		}
	}
	st.Directory.SetSection(cur)
	return shown
}

// postedValue is a field's posted value as Set takes it: a checkbox as
// "true" or "false", multi-line text as typed, the rest trimmed.
func postedValue(form url.Values, f directory.Field) string {
	switch f.Kind {
	case directory.FieldBool:
		if form.Get(f.Path) != "" {
			return "true"
		}
		return "false"
	case directory.FieldTextArea, directory.FieldSecretTA:
		return form.Get(f.Path)
	}
	return strings.TrimSpace(form.Get(f.Path))
}

// conditionHolds reports whether a ShownWhen condition holds for the
// posted form (no condition always holds).
func conditionHolds(form url.Values, kinds map[string]directory.FieldKind, c *directory.Condition) bool {
	if c == nil {
		return true
	}
	if kinds[c.Path] == directory.FieldBool {
		return (form.Get(c.Path) != "") == isOn(c.Value)
	}
	if !form.Has(c.Path) {
		return true
	}
	return strings.TrimSpace(form.Get(c.Path)) == c.Value
}

func isOn(v string) bool {
	switch strings.ToLower(v) {
	case "true", "on", "1", "yes":
		return true
	}
	return false
}

// directoryView fills the form's directory part: every registered type
// with its fields. Values come from st (the stored settings); for the
// chosen type of a posted form (form not nil) they are shown as typed,
// with errs and the secrets typed but not saved.
func directoryView(v *web.SettingsForm, st config.Settings, form url.Values, shown map[string]bool, errs web.FormErrors) {
	if v.DirectoryType == "" {
		v.DirectoryType = st.Directory.Type
	}
	v.UserFilterHelp = "Which users to sync: include:a@x.com,b@x.com or exclude:…, and/or the directory's own filter after a bar. Empty syncs everyone."
	v.GroupFilterHelp = "Which groups to sync by name: include:Engineering or exclude:…, and/or the directory's own filter after a bar. An include or exclude list also limits users to members of the kept groups."
	for i, k := range directory.Kinds() {
		sec := st.Directory.Section(k.Name)
		posted := form != nil && k.Name == v.DirectoryType
		fh := web.FilterHelp{Index: i, User: v.UserFilterHelp, Group: v.GroupFilterHelp}
		if fs := sec.Filters(); fs.UserHelp != "" {
			fh.User, fh.Group = fs.UserHelp, fs.GroupHelp
		}
		v.FilterHelps = append(v.FilterHelps, fh)
		if k.Name == v.DirectoryType {
			v.UserFilterHelp, v.GroupFilterHelp = fh.User, fh.Group
		}
		stored := map[string]bool{}
		for _, ref := range sec.Secrets() {
			stored[ref.Path] = ref.Value.IsSet()
		}
		t := web.DirectoryType{Name: k.Name, Title: k.Title, Index: i}
		presets := map[string]bool{}
		fields := sec.Fields()
		kinds := map[string]directory.Field{}
		for _, f := range fields {
			kinds[f.Path] = f
		}
		var group *web.FieldGroup
		ctl := -1 // index in group.Fields of the last field others depend on
		for _, f := range fields {
			for p := range f.Presets {
				presets[p] = true
			}
			df := web.DirField{Path: f.Path, Label: f.Label, Help: f.Help, Kind: string(f.Kind), Placeholder: f.Placeholder,
				StepsTitle: f.StepsTitle, Steps: f.Steps, Error: errs.Get(f.Path), Set: stored[f.Path]}
			for j, o := range f.Options {
				df.Options = append(df.Options, web.FieldOption{Value: o.Value, Label: o.Label, Index: j})
			}
			value := ""
			if f.Get != nil {
				value = f.Get(sec)
			}
			if posted && (form.Has(f.Path) || f.Kind == directory.FieldBool) && (shown == nil || shown[f.Path]) {
				value = postedValue(form, directory.Field{Path: f.Path, Kind: f.Kind})
				if f.Kind == directory.FieldSecret || f.Kind == directory.FieldSecretTA {
					df.Typed = strings.TrimSpace(value) != ""
					value = ""
				}
			}
			df.Value, df.Checked = value, f.Kind == directory.FieldBool && isOn(value)
			if f.Kind == directory.FieldSecret || f.Kind == directory.FieldSecretTA {
				df.Value = ""
			}
			if f.Advanced {
				t.Advanced = append(t.Advanced, df)
				v.AdvancedPaths = append(v.AdvancedPaths, f.Path)
				continue
			}
			if group == nil || group.Name != f.Group {
				t.Groups = append(t.Groups, web.FieldGroup{Name: f.Group})
				group, ctl = &t.Groups[len(t.Groups)-1], -1
			}
			if c := f.ShownWhen; c != nil && ctl >= 0 && group.Fields[ctl].Path == c.Path {
				df.When = whenClass(kinds[c.Path], c.Value)
				group.Fields[ctl].Dependents = append(group.Fields[ctl].Dependents, df)
				continue
			}
			group.Fields = append(group.Fields, df)
			if controls(fields, f.Path) {
				ctl = len(group.Fields) - 1
			}
		}
		for p := range presets {
			t.Presets = append(t.Presets, p)
		}
		sort.Strings(t.Presets)
		v.DirectoryTypes = append(v.DirectoryTypes, t)
	}
}

// controls reports whether another field is shown only for a value of
// the field at path.
func controls(fields []directory.Field, path string) bool {
	for _, f := range fields {
		if f.ShownWhen != nil && f.ShownWhen.Path == path {
			return true
		}
	}
	return false
}

// whenClass is the CSS class of a field shown only while ctl has value.
func whenClass(ctl directory.Field, value string) string {
	if ctl.Kind == directory.FieldBool {
		if isOn(value) {
			return "when-on"
		}
		return "when-off"
	}
	for i, o := range ctl.Options {
		if o.Value == value {
			return "when-" + strconv.Itoa(i)
		}
	}
	return ""
}

// firstOption is the first option's value when path is a choice of a
// registered type ("" otherwise): the error summary links to it.
func firstOption(path string) string {
	for _, k := range directory.Kinds() {
		for _, f := range k.New().Fields() {
			if f.Path == path && f.Kind == directory.FieldChoice && len(f.Options) > 0 {
				return f.Options[0].Value
			}
		}
	}
	return ""
}
