package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory"
	"github.com/dirsync/dirsync/internal/directory/okta"
	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
	"github.com/dirsync/dirsync/web"
)

// preview is a finished test as the Test page shows it. It keeps what the
// page needs and nothing else (not the import body), with the users' and
// groups' search keys computed once.
type preview struct {
	at      time.Time
	unsaved bool
	// failure is set when the test failed; the rest is then mostly empty.
	failure *web.PreviewError

	counts        []web.Count
	warnings      []string
	warningsTotal int
	userFilter    web.FilterView
	groupFilter   web.FilterView
	changes       *web.ChangesView
	bitwarden     *web.OrgDiffView
	bitwardenNote string

	users []directory.User
	// userKeys[i] is users[i]'s lower-cased id and email, for search.
	userKeys  []string
	groups    []web.PreviewGroup
	groupKeys []string
}

// testRun is POST /test/run: run a test read with the saved settings, or
// with the Settings form's unsaved values when the POST carries them (the
// Settings page's "Test these settings" button), keep the result for this
// admin and show it (post/redirect/get). A test never pushes.
func (s *Server) testRun(w http.ResponseWriter, r *http.Request) {
	if s.engine == nil {
		s.renderError(w, r, http.StatusServiceUnavailable, "Test unavailable", "This console runs without a sync engine, so it cannot run tests.")
		return
	}
	if err := parseForm(w, r); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	opts := dsync.Options{Trigger: dsync.TriggerTest, Mode: dsync.ModeTest}
	var shown config.Settings // the settings whose filters the page names
	if r.PostForm.Has(config.FieldDirectoryType) {
		f, ok := s.readSettingsForm(w, r)
		if !ok {
			return
		}
		if len(f.errs) > 0 {
			s.flash(r, web.FlashError, "The test did not run: fix the fields marked below first.")
			s.render(w, r, http.StatusUnprocessableEntity, s.settingsPage(r, f.stored), web.SettingsPage(f.view))
			return
		}
		opts.Settings = &f.settings
		shown = f.settings
	} else if stored, err := s.loadSettings(r.Context()); err == nil {
		shown = stored.Settings
	}

	started := s.now()
	res, runErr := s.engine.Run(r.Context(), store.DefaultProfile, opts)
	if runErr != nil && r.Context().Err() != nil {
		// The admin went away; nobody will read the result.
		return
	}
	if res != nil && res.Settings.Directory.Type != "" {
		shown = res.Settings
	}
	p := buildPreview(res, runErr, shown, opts.Settings != nil, started)
	user := sessionFrom(r).user
	id, err := s.previews.put(user, p)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.redirect(w, r, web.TestURL(id, "", "", 1))
}

// testPreview is GET /test: the "Run a test" button and the asked-for
// preview (?id=), or this admin's latest one. tab, q and page choose the
// table page; an htmx request aimed at the table gets only the table.
func (s *Server) testPreview(w http.ResponseWriter, r *http.Request) {
	user := sessionFrom(r).user
	q := r.URL.Query()
	id := q.Get("id")
	var (
		p  *preview
		ok bool
	)
	status := http.StatusOK
	v := web.TestView{}
	if id != "" {
		p, ok = s.previews.get(user, id)
		if !ok {
			v.Expired = true
			status = http.StatusNotFound
		}
	} else {
		id, p, ok = s.previews.latest(user)
	}
	if ok {
		v = p.view(id)
		v.Table = p.table(id, q.Get("tab"), q.Get("q"), q.Get("page"))
	}
	if isHTMX(r) && r.Header.Get("HX-Target") == web.PreviewTableID && ok && p.failure == nil {
		s.renderFragment(w, r, status, web.PreviewTableFragment(v.Table))
		return
	}
	s.render(w, r, status, s.page(r, "Test", "test"), web.TestPage(v))
}

// buildPreview turns an engine result into what the page keeps.
func buildPreview(res *dsync.Result, runErr error, shown config.Settings, unsaved bool, at time.Time) *preview {
	p := &preview{at: at, unsaved: unsaved}
	p.userFilter = filterView(shown.Sync.UserFilter)
	p.groupFilter = filterView(shown.Sync.GroupFilter)
	if runErr != nil || res == nil || res.Plan == nil {
		if runErr == nil {
			runErr = errors.New("the test ended without a result")
		}
		p.failure = &web.PreviewError{Message: runErr.Error(), Hints: errorHints(runErr, shown)}
		return p
	}
	plan := res.Plan
	p.users = plan.Users
	p.userKeys = make([]string, len(plan.Users))
	enabled, disabled, deleted := 0, 0, 0
	for i, u := range plan.Users {
		p.userKeys[i] = strings.ToLower(u.ID) + "\x00" + strings.ToLower(u.Email)
		switch userState(u) {
		case web.StateDeleted:
			deleted++
		case web.StateDisabled:
			disabled++
		default:
			enabled++
		}
	}
	p.groups = make([]web.PreviewGroup, len(plan.Groups))
	p.groupKeys = make([]string, len(plan.Groups))
	for i, g := range plan.Groups {
		p.groups[i] = web.PreviewGroup{ID: g.ID, Name: g.Name, Members: len(g.MemberIDs)}
		p.groupKeys[i] = strings.ToLower(g.ID) + "\x00" + strings.ToLower(g.Name)
	}
	readTime := res.Stats.Duration
	if readTime == 0 {
		readTime = time.Duration(timingsOf(res.Run.Timings).ReadMS) * time.Millisecond
	}
	c := plan.Counts
	p.counts = []web.Count{
		{Key: "users", Label: "Users", Value: itoa(c.Users)},
		{Key: "enabled", Label: "Enabled", Value: itoa(enabled)},
		{Key: "disabled", Label: "Disabled (sent as members)", Value: itoa(disabled)},
		{Key: "deleted", Label: "Deleted (sent as deleted)", Value: itoa(deleted)},
		{Key: "left-out", Label: "Left out", Value: itoa(c.Dropped)},
		{Key: "groups", Label: "Groups", Value: itoa(c.Groups)},
		{Key: "memberships", Label: "Memberships", Value: itoa(c.Memberships)},
		{Key: "batches", Label: "Imports to send", Value: itoa(len(plan.Batches))},
		{Key: "okta-requests", Label: "Okta requests", Value: itoa(res.Stats.Requests)},
		{Key: "read-time", Label: "Read time", Value: formatDuration(readTime)},
	}
	p.warnings, p.warningsTotal = capWarnings(res.Run.Warnings)
	if res.Changes != nil {
		p.changes = changesView(res.Changes)
	}
	switch {
	case res.Bitwarden != nil:
		p.bitwarden = orgDiffView(res.Bitwarden)
	case res.BitwardenError != "":
		p.bitwardenNote = "Bitwarden could not be read, so what would change there is not known: " + res.BitwardenError
	case plan.SkipPush:
		p.bitwardenNote = "Nothing would be sent: the directory returned no users or groups for these settings (check the filters)."
	}
	return p
}

// view is the page data of the preview, without the table.
func (p *preview) view(id string) web.TestView {
	return web.TestView{
		ID: id, At: p.at, Unsaved: p.unsaved, Error: p.failure,
		Counts: p.counts, Warnings: p.warnings, WarningsTotal: p.warningsTotal,
		UserFilter: p.userFilter, GroupFilter: p.groupFilter,
		Changes: p.changes, Bitwarden: p.bitwarden, BitwardenNote: p.bitwardenNote,
	}
}

// maxQueryLen bounds the search text; longer input matches nothing anyway.
const maxQueryLen = 256

// table returns one page of the users or groups tab, searched on the
// server: a case-insensitive substring of the id, the email (users) or the
// name (groups). Out-of-range pages are clamped.
func (p *preview) table(id, tab, query, pageParam string) web.PreviewTable {
	if tab != web.TabGroups {
		tab = web.TabUsers
	}
	query = strings.TrimSpace(query)
	if len(query) > maxQueryLen {
		query = query[:maxQueryLen]
	}
	page, _ := strconv.Atoi(pageParam)
	t := web.PreviewTable{PreviewID: id, Tab: tab, Query: query}
	keys := p.userKeys
	if tab == web.TabGroups {
		keys = p.groupKeys
	}
	t.All = len(keys)
	rows := pageOf(keys, strings.ToLower(query), &page, &t.Matches, &t.Pages)
	t.Page = page
	if tab == web.TabGroups {
		t.Groups = make([]web.PreviewGroup, len(rows))
		for i, k := range rows {
			t.Groups[i] = p.groups[k]
		}
		return t
	}
	t.Users = make([]web.PreviewUser, len(rows))
	for i, k := range rows {
		u := p.users[k]
		t.Users[i] = web.PreviewUser{ID: u.ID, Email: u.Email, Status: u.Status, State: userState(u)}
	}
	return t
}

// pageOf returns the indexes of the rows on page *page among the keys
// containing q (all keys when q is empty), sets *matches and *pages, and
// clamps *page to [1, *pages].
func pageOf(keys []string, q string, page, matches, pages *int) []int {
	size := web.PreviewPageSize
	clamp := func(n int) {
		*matches = n
		*pages = max(1, (n+size-1)/size)
		*page = min(max(*page, 1), *pages)
	}
	if q == "" {
		clamp(len(keys))
		lo := (*page - 1) * size
		hi := min(lo+size, len(keys))
		out := make([]int, 0, hi-lo)
		for i := lo; i < hi; i++ {
			out = append(out, i)
		}
		return out
	}
	// One pass keeps the wanted window while counting; a second pass is
	// needed only when the asked-for page turns out to be past the end.
	want := max(*page, 1)
	lo := (want - 1) * size
	out := make([]int, 0, size)
	n := 0
	for i, k := range keys {
		if strings.Contains(k, q) {
			if n >= lo && n < lo+size {
				out = append(out, i)
			}
			n++
		}
	}
	clamp(n)
	if *page == want {
		return out
	}
	lo, out, n = (*page-1)*size, out[:0], 0
	for i, k := range keys {
		if strings.Contains(k, q) {
			if n >= lo && n < lo+size {
				out = append(out, i)
			}
			n++
		}
	}
	return out
}

// userState is how the sync sends a user.
func userState(u directory.User) string {
	switch {
	case u.Deleted:
		return web.StateDeleted
	case u.Disabled:
		return web.StateDisabled
	}
	return web.StateEnabled
}

// filterView splits a filter into what dirsync applies and what Okta gets.
func filterView(raw string) web.FilterView {
	f, err := directory.ParseFilter(raw)
	if err != nil {
		return web.FilterView{Set: "invalid: " + strings.TrimSpace(raw)}
	}
	v := web.FilterView{Native: f.Native}
	if f.HasSet() {
		v.Set = f.Mode.String() + ":" + strings.Join(f.Values, ",")
	}
	return v
}

// errorHints says what to check for a failed test. Okta's answers are
// recognised by type when the error chain keeps it, and by their code in
// the text otherwise (an error that crossed a process boundary).
func errorHints(err error, st config.Settings) []string {
	msg := err.Error()
	var apiErr *okta.APIError
	isAPI := errors.As(err, &apiErr)
	has := func(code string, status int) bool {
		if isAPI {
			return apiErr.Status == status && (code == "" || apiErr.Code == code)
		}
		return strings.Contains(msg, code) && strings.Contains(msg, strconv.Itoa(status))
	}
	var hints []string
	var fe config.FieldErrors
	switch {
	case has(okta.CodeInvalidToken, http.StatusUnauthorized) || (isAPI && apiErr.Status == http.StatusUnauthorized):
		hints = append(hints,
			"The Okta API token: Okta says it is invalid, expired or revoked. Tokens expire after 30 days without use and end when their admin is deactivated. Create a new one in Okta (Security → API → Tokens) and enter it in Settings.",
			"The org URL: a token only works on the org that issued it ("+orDash(st.Directory.Okta.OrgURL)+" now).")
	case has(okta.CodeForbidden, http.StatusForbidden) || (isAPI && apiErr.Status == http.StatusForbidden):
		hints = append(hints,
			"The token's rights: the admin who created it must be allowed to read users and groups (Read-only Administrator is enough). Create the token as such an admin.")
	case has(okta.CodeBadFilter, http.StatusBadRequest):
		hints = append(hints,
			"The native filter syntax (the part after | in the user or group filter). Okta accepts, for users: eq on status, id, profile.login, profile.email, profile.firstName, profile.lastName, and gt/ge/lt/le on lastUpdated; for groups: eq on id and type, and the timestamps. Values go in double quotes and expressions combine with and/or, e.g. | status eq \"ACTIVE\".")
		if isAPI && apiErr.Filter != "" {
			hints = append(hints, "Okta refused this expression: "+apiErr.Filter)
		}
	case isAPI && apiErr.Status == http.StatusNotFound:
		hints = append(hints, "The org URL: it should be your Okta address, such as https://acme.okta.com (now "+orDash(st.Directory.Okta.OrgURL)+").")
	case isAPI && apiErr.Status == http.StatusTooManyRequests:
		hints = append(hints, "Okta's rate limits: other clients may be using most of them. Lower the concurrency or the rate-limit share in Settings → Advanced, or try again later.")
	case isAPI && apiErr.Status >= 500:
		hints = append(hints, "Okta's status (status.okta.com), or the proxy in front of it; try again later.")
	case errors.As(err, &fe):
		hints = append(hints, "The settings: open Settings and fix the fields it marks.")
	case errors.Is(err, okta.ErrForeignLink):
		hints = append(hints, "A proxy or custom domain in front of Okta: Okta's page links point to another address than the org URL. Use the address Okta's links use as the org URL.")
	case strings.Contains(msg, "no settings saved"):
		hints = append(hints, "Fill in Settings (the Okta org URL and token at least) and save them, or use “Test these settings” on the Settings page.")
	case strings.Contains(msg, "share an email"):
		hints = append(hints, "Duplicate emails: give each active Okta account its own email, or leave one out with the user filter (exclude:…).")
	case strings.Contains(msg, "largeImport"):
		hints = append(hints, "The size of the import: turn on Large import in Settings to send it in batches.")
	case strings.Contains(msg, "not a JSON array") || strings.Contains(msg, "connection refused") ||
		strings.Contains(msg, "no such host") || strings.Contains(msg, "timed out") || strings.Contains(msg, "certificate"):
		hints = append(hints,
			"The org URL: it should be your Okta address, such as https://acme.okta.com (now "+orDash(st.Directory.Okta.OrgURL)+").",
			"The network: this server must reach Okta over https (proxy, firewall, DNS).")
	}
	if len(hints) == 0 {
		hints = append(hints, "The settings (org URL, token, filters), then the server log for details; run the test again.")
	}
	return hints
}

func orDash(s string) string {
	if s == "" {
		return "not set"
	}
	return s
}

// timingsOf decodes a run's timings; zero when absent or unreadable.
func timingsOf(raw []byte) dsync.Timings {
	var t dsync.Timings
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &t)
	}
	return t
}

// capWarnings keeps the first warnings for display and the full count.
func capWarnings(ws []string) ([]string, int) {
	if len(ws) > web.MaxListedWarnings {
		return ws[:web.MaxListedWarnings], len(ws)
	}
	return ws, len(ws)
}
