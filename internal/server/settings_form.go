package server

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory"
	"github.com/dirsync/dirsync/web"
)

// Form field names that are not config field paths.
const (
	formBWURL          = "bitwarden.url"
	formRemoveDisabled = "sync.removeDisabled"
	formOverwrite      = "sync.overwriteExisting"
	formLargeImport    = "sync.largeImport"
	formStageNew       = "sync.stageNewMembers"
	formGroups         = "sync.groups"
	formClearWebhooks  = "alerts.clearWebhooks"
)

// settingsSlots are the settings page's error slots, in page order: config
// field paths, and every registered directory type's field paths.
func settingsSlots() []string {
	slots := []string{config.FieldDirectoryType}
	var advanced []string
	for _, k := range directory.Kinds() {
		for _, f := range k.New().Fields() {
			if f.Advanced {
				advanced = append(advanced, f.Path)
			} else {
				slots = append(slots, f.Path)
			}
		}
	}
	slots = append(slots,
		config.FieldBWServer, config.FieldBWClientID, config.FieldBWClientSecret,
		config.FieldInterval, config.FieldUserFilter, config.FieldUsersGroups, config.FieldGroupFilter,
		config.FieldMaxRemovals, config.FieldMaxRemovalPct,
		config.FieldMaxMembershipRemovals, config.FieldMaxMembershipRemovalPct, config.FieldMaxShrinkPct, config.FieldWebhooks)
	slots = append(slots, advanced...)
	return append(slots, config.FieldImportTimeout, config.FieldTimeout)
}

// slotOf maps a form field name to the error slot that explains it.
func slotOf(name string) string {
	switch name {
	case formBWURL:
		return config.FieldBWServer
	case formGroups:
		return config.FieldUsersGroups
	}
	for _, f := range settingsSlots() {
		if f == name {
			return f
		}
	}
	return ""
}

const maxFormBytes = 64 << 10

// parseForm reads a urlencoded POST body of at most 64 KiB.
// postedSettings is a Settings form read against the stored settings.
type postedSettings struct {
	stored   storedSettings
	settings config.Settings
	view     web.SettingsForm
	errs     web.FormErrors
}

// readSettingsForm parses a POSTed Settings form and loads the stored
// settings it completes (an empty secret keeps the stored one). When it
// returns false it has already answered the request.
func (s *Server) readSettingsForm(w http.ResponseWriter, r *http.Request) (postedSettings, bool) {
	if err := parseForm(w, r); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return postedSettings{}, false
	}
	stored, err := s.loadSettings(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return postedSettings{}, false
	}
	st, view, errs := settingsFromForm(r.PostForm, stored.Settings)
	return postedSettings{stored: stored, settings: st, view: view, errs: errs}, true
}

func parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	return r.ParseForm()
}

// settingsView shows stored settings in the form. Secrets appear only as
// "set" or "not set".
func settingsView(st config.Settings) web.SettingsForm {
	f := web.SettingsForm{
		DirectoryType:     st.Directory.Type,
		ClientID:          st.Bitwarden.ClientID,
		SecretSet:         st.Bitwarden.ClientSecret.IsSet(),
		Interval:          strconv.Itoa(st.Sync.IntervalMinutes),
		RemoveDisabled:    st.Sync.RemoveDisabled,
		OverwriteExisting: st.Sync.OverwriteExisting,
		LargeImport:       st.Sync.LargeImport,
		Users:             st.Sync.Users,
		UserFilter:        st.Sync.UserFilter,
		Groups:            st.Sync.Groups,
		GroupFilter:       st.Sync.GroupFilter,
		MaxRemovals:       strconv.Itoa(st.Guard.MaxRemovals),
		MaxRemovalPercent: strconv.FormatFloat(st.Guard.MaxRemovalPercent, 'g', -1, 64),
		WebhooksSet:       st.Alerts.WebhookURLs.IsSet(),
		StageNewMembers:   !st.Sync.InviteUsers,
		ImportTimeout:     strconv.Itoa(st.Bitwarden.ImportTimeoutSeconds),

		MaxMembershipRemovals:       strconv.Itoa(st.Guard.MaxMembershipRemovals),
		MaxMembershipRemovalPercent: strconv.FormatFloat(st.Guard.MaxMembershipRemovalPercent, 'g', -1, 64),
		MaxShrinkPercent:            strconv.FormatFloat(st.Guard.MaxShrinkPercent, 'g', -1, 64),
		TimeoutMinutes:              strconv.Itoa(st.Sync.TimeoutMinutes),
	}
	directoryView(&f, st, nil, nil, nil)
	switch st.Bitwarden.Server {
	case config.ServerUS, "":
		f.Server = web.ServerChoiceUS
	case config.ServerEU:
		f.Server = web.ServerChoiceEU
	default:
		f.Server, f.SelfURL = web.ServerChoiceSelf, st.Bitwarden.Server
	}
	return f
}

// settingsFromForm reads the posted form over the stored settings: an
// empty secret field keeps the stored secret. It returns the settings
// (normalized), the form as typed (for showing it again, without secret
// values) and every problem by field path, from parsing and from
// config's Validate.
func settingsFromForm(form url.Values, stored config.Settings) (config.Settings, web.SettingsForm, web.FormErrors) {
	errs := web.FormErrors{}
	get := func(k string) string { return strings.TrimSpace(form.Get(k)) }
	on := func(k string) bool { return form.Get(k) != "" }

	st := stored
	// Secrets start empty: a typed one is taken as is, an empty one is
	// carried over from the stored settings below, by CarrySecrets, only if
	// it would still go to the same place.
	for _, f := range st.SecretFields() {
		*f.Value = ""
	}
	st.Directory.Type = get(config.FieldDirectoryType)
	shown := readDirectory(form, &st, errs)
	st.Bitwarden.ClientID = get(config.FieldBWClientID)
	st.Bitwarden.ClientSecret = config.Secret(get(config.FieldBWClientSecret))
	choice, selfURL := get(config.FieldBWServer), get(formBWURL)
	switch choice {
	case web.ServerChoiceUS, web.ServerChoiceEU:
		st.Bitwarden.Server = choice
	case web.ServerChoiceSelf:
		st.Bitwarden.Server = selfURL
		if selfURL == "" {
			errs[config.FieldBWServer] = "enter your self-hosted server's base URL, such as https://vault.example.com"
		}
	default:
		errs[config.FieldBWServer] = "choose US, EU or Self-hosted"
	}

	interval := get(config.FieldInterval)
	if n, err := strconv.Atoi(interval); err != nil {
		errs[config.FieldInterval] = "enter a whole number of minutes, such as 15"
	} else {
		st.Sync.IntervalMinutes = n
	}
	st.Sync.RemoveDisabled = on(formRemoveDisabled)
	st.Sync.OverwriteExisting = on(formOverwrite)
	st.Sync.LargeImport = on(formLargeImport)
	st.Sync.InviteUsers = !on(formStageNew)
	st.Sync.Users = on(config.FieldUsersGroups)
	st.Sync.Groups = on(formGroups)
	st.Sync.UserFilter = get(config.FieldUserFilter)
	st.Sync.GroupFilter = get(config.FieldGroupFilter)

	importTimeout := get(config.FieldImportTimeout)
	st.Bitwarden.ImportTimeoutSeconds = 0
	if importTimeout != "" {
		if n, err := strconv.Atoi(importTimeout); err != nil || n < 1 {
			errs[config.FieldImportTimeout] = fmt.Sprintf("enter a whole number of seconds from %d to %d, or leave it empty for %d", config.MinImportTimeoutSeconds, config.MaxImportTimeoutSeconds, config.DefaultImportTimeoutSeconds)
		} else {
			st.Bitwarden.ImportTimeoutSeconds = n
		}
	}
	// The guard limits have no "empty means default": 0 is meaningful (off).
	maxRem := get(config.FieldMaxRemovals)
	if n, err := strconv.Atoi(maxRem); err != nil {
		errs[config.FieldMaxRemovals] = "enter a whole number of members; 0 turns this limit off"
	} else {
		st.Guard.MaxRemovals = n
	}
	maxPct := get(config.FieldMaxRemovalPct)
	if x, err := strconv.ParseFloat(strings.TrimSuffix(maxPct, "%"), 64); err != nil {
		errs[config.FieldMaxRemovalPct] = "enter a percentage from 0 to 100; 0 turns this limit off"
	} else {
		st.Guard.MaxRemovalPercent = x
	}
	// The membership and shrink guards (issue 8): 0 is off; empty takes
	// the default, so a form from before they existed keeps them on.
	memRem := get(config.FieldMaxMembershipRemovals)
	st.Guard.MaxMembershipRemovals = config.DefaultMaxMembershipRemovals
	if memRem != "" {
		if n, err := strconv.Atoi(memRem); err != nil {
			errs[config.FieldMaxMembershipRemovals] = "enter a whole number of group memberships; 0 turns this limit off"
		} else {
			st.Guard.MaxMembershipRemovals = n
		}
	}
	percent := func(field, v string, def float64, dst *float64) {
		*dst = def
		if v == "" {
			return
		}
		if x, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64); err != nil {
			errs[field] = "enter a percentage from 0 to 100; 0 turns this limit off"
		} else {
			*dst = x
		}
	}
	memPct := get(config.FieldMaxMembershipRemovalPct)
	percent(config.FieldMaxMembershipRemovalPct, memPct, config.DefaultMaxMembershipRemovalPct, &st.Guard.MaxMembershipRemovalPercent)
	shrinkPct := get(config.FieldMaxShrinkPct)
	percent(config.FieldMaxShrinkPct, shrinkPct, config.DefaultMaxShrinkPct, &st.Guard.MaxShrinkPercent)
	timeout := get(config.FieldTimeout)
	st.Sync.TimeoutMinutes = 0 // empty: the default
	if timeout != "" {
		if n, err := strconv.Atoi(timeout); err != nil {
			errs[config.FieldTimeout] = fmt.Sprintf("enter a whole number of minutes from 1 to %d, or leave it empty for %d", config.MaxTimeoutMinutes, config.DefaultTimeoutMinutes)
		} else {
			st.Sync.TimeoutMinutes = n
		}
	}
	hooks := form.Get(config.FieldWebhooks) // multi-line: trimmed by Normalize
	if strings.TrimSpace(hooks) != "" {
		st.Alerts.WebhookURLs = config.Secret(hooks)
	}

	st.Normalize()
	for k, v := range config.CarrySecrets(stored, &st, func(path string) bool {
		return path != config.FieldWebhooks || !on(formClearWebhooks)
	}) {
		errs[k] = v
	}
	if err := st.Validate(true); err != nil {
		if fe, ok := err.(config.FieldErrors); ok {
			for k, v := range fe {
				if _, dup := errs[k]; !dup {
					errs[k] = v
				}
			}
		} else {
			errs["form"] = err.Error()
		}
	}

	view := web.SettingsForm{
		DirectoryType:     get(config.FieldDirectoryType),
		Server:            choice,
		SelfURL:           selfURL,
		ClientID:          get(config.FieldBWClientID),
		SecretSet:         stored.Bitwarden.ClientSecret.IsSet(),
		SecretTyped:       get(config.FieldBWClientSecret) != "",
		Interval:          interval,
		RemoveDisabled:    st.Sync.RemoveDisabled,
		OverwriteExisting: st.Sync.OverwriteExisting,
		LargeImport:       st.Sync.LargeImport,
		Users:             st.Sync.Users,
		UserFilter:        get(config.FieldUserFilter),
		Groups:            st.Sync.Groups,
		GroupFilter:       get(config.FieldGroupFilter),
		MaxRemovals:       maxRem,
		MaxRemovalPercent: maxPct,
		WebhooksSet:       stored.Alerts.WebhookURLs.IsSet(),
		WebhooksTyped:     strings.TrimSpace(hooks) != "",
		StageNewMembers:   !st.Sync.InviteUsers,
		ImportTimeout:     importTimeout,
		Errors:            errs,

		MaxMembershipRemovals:       memRem,
		MaxMembershipRemovalPercent: memPct,
		MaxShrinkPercent:            shrinkPct,
		TimeoutMinutes:              timeout,
	}
	directoryView(&view, stored, form, shown, errs)
	for _, k := range sortedKeys(errs) {
		slot := slotOf(k)
		if slot == "" {
			view.Unplaced = append(view.Unplaced, k+": "+errs[k])
			continue
		}
		// The summary at the top links to each marked field.
		view.Summary = append(view.Summary, web.ErrorLink{Href: errorHref(slot), Text: web.Sentence(errs[k])})
	}
	if len(errs) == 0 {
		view.Errors = nil
	}
	return st, view, errs
}

func sortedKeys(m web.FormErrors) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// errorHref is the link from an error summary to the field of slot: its
// input, or for radio buttons the first of them (a choice's inputs have
// an id per value).
func errorHref(slot string) string {
	target := web.FieldID(slot)
	if slot == config.FieldBWServer {
		target += "-" + web.ServerChoiceUS
	} else if first := firstOption(slot); first != "" {
		target += "-" + first
	}
	return "#" + target
}
