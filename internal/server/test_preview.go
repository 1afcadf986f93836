package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory"
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
	verdict       web.Verdict
	// lists are the Bitwarden change lists, whole, each with its search
	// keys (lower-cased text and id).
	lists    []web.ChangeList
	listKeys [][]string

	users []directory.User
	// userKeys[i] is users[i]'s lower-cased id and email, for search.
	userKeys  []string
	groups    []web.PreviewGroup
	groupKeys []string
}

// testRun is POST /test/run: start a test read in the background with the
// saved settings, or with the Settings form's unsaved values when the POST
// carries them (the Settings page's "Test these settings" button), and
// answer at once with the Test page, which follows the test and then shows
// its result (post/redirect/get). A test never pushes. One test runs at a
// time: a second start is sent to the running one.
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

	user := sessionFrom(r).user
	unsaved := opts.Settings != nil
	job, started, err := s.tests.start(store.DefaultProfile, user, unsaved, s.now(),
		func(ctx context.Context, j *testJob, progress func(dsync.Event)) {
			opts.Progress = progress
			at := s.now()
			res, runErr := s.engine.Run(ctx, store.DefaultProfile, opts)
			if ctx.Err() != nil {
				j.mu.Lock()
				j.cancelled = true
				j.mu.Unlock()
				return
			}
			if res != nil && res.Settings.Directory.Type != "" {
				shown = res.Settings
			}
			s.previews.putID(j.user, j.id, buildPreview(res, runErr, shown, unsaved, at))
		})
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if !started {
		s.flash(r, web.FlashInfo, "A test is already running; its progress is shown below. Start another one when it has ended.")
	}
	s.redirect(w, r, web.TestURL(job.id, "", "", 1))
}

// testCancel is POST /test/cancel: stop the running test. Its partial
// result is dropped.
func (s *Server) testCancel(w http.ResponseWriter, r *http.Request) {
	j := s.tests.current(store.DefaultProfile)
	if j == nil {
		s.flash(r, web.FlashInfo, "No test is running.")
		s.redirect(w, r, "/test")
		return
	}
	j.cancel()
	// The engine stops at its next request; wait for it briefly so the
	// page that follows no longer shows the test running.
	select {
	case <-j.done:
	case <-time.After(5 * time.Second):
	case <-r.Context().Done():
	}
	s.addAudit(r, sessionFrom(r).user, "test.cancelled", "test started by "+j.user)
	s.flash(r, web.FlashSuccess, "Test cancelled.")
	s.redirect(w, r, web.TestURL(j.id, "", "", 1))
}

// testPreview is GET /test: the "Run a test" button, the running test's
// progress, and the asked-for preview (?id=), or this admin's latest one.
// tab, q and page choose the table page; an htmx request aimed at the
// table gets only the table.
func (s *Server) testPreview(w http.ResponseWriter, r *http.Request) {
	user := sessionFrom(r).user
	q := r.URL.Query()
	id := q.Get("id")
	status := http.StatusOK
	v := web.TestView{}
	running := s.tests.current(store.DefaultProfile)
	var (
		p  *preview
		ok bool
	)
	switch {
	case running != nil && (id == "" || id == running.id):
		v.Running = runningView(running, user)
	case id != "":
		p, ok = s.previews.get(user, id)
		if !ok {
			if j := s.tests.get(id); j != nil && j.ended() && j.cancelled {
				v.Cancelled = true
			} else {
				v.Expired = true
				status = http.StatusNotFound
			}
		}
	default:
		id, p, ok = s.previews.latest(user)
	}
	if ok {
		v = p.view(id)
		if running != nil {
			v.Running = runningView(running, user)
		}
		tab := q.Get("tab")
		if l := p.list(tab); l != nil {
			v.Table = web.PreviewTable{PreviewID: id, Tab: tab}
			v.ListPage = p.listPage(id, *l, q.Get("q"), q.Get("page"))
		} else {
			v.Table = p.table(id, tab, q.Get("q"), q.Get("page"))
		}
	}
	if isHTMX(r) && ok && p.failure == nil {
		switch r.Header.Get("HX-Target") {
		case web.PreviewTableID:
			s.renderFragment(w, r, status, web.PreviewTableFragment(v.Table))
			return
		case web.ItemPageID:
			if v.ListPage != nil {
				s.renderFragment(w, r, status, web.ItemPageTable(*v.ListPage))
				return
			}
		}
	}
	s.render(w, r, status, s.page(r, "Test", "test"), web.TestPage(v))
}

// runningView is the page data of a running test.
func runningView(j *testJob, user string) *web.TestRunning {
	rv := &web.TestRunning{ID: j.id, StartedBy: j.user, Mine: j.user == user, Started: j.started, Unsaved: j.unsaved,
		Message: "Starting the test"}
	if ev, ok := j.progress(); ok {
		rv.Message, rv.Done, rv.Total = ev.Message, min(ev.Done, ev.Total), ev.Total
	}
	return rv
}

// testEvents is GET /test/events?id=: the running test's progress as
// server-sent events ("progress": the progress box's HTML), then "done"
// when it has ended (at once for a test already over), on which the page
// loads the result. The stream then stays open, idle, so the browser does
// not reconnect and ask again.
func (s *Server) testEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	user := sessionFrom(r).user
	j := s.tests.get(r.URL.Query().Get("id"))
	var (
		ch    <-chan dsync.Event
		ended <-chan struct{}
	)
	if j != nil {
		var unsubscribe func()
		ch, unsubscribe = j.subscribe()
		defer unsubscribe()
		ended = j.done
		if err := s.writeEvent(w, r, "progress", web.TestProgressBox(*runningView(j, user))); err != nil {
			return
		}
	} else if _, err := fmt.Fprint(w, "event: done\ndata: gone\n\n"); err != nil {
		return
	}
	if err := rc.Flush(); err != nil {
		return
	}
	keepAlive := time.NewTicker(eventsKeepAlive)
	defer keepAlive.Stop()
	done := s.streams.doneChan()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-done:
			return
		case <-keepAlive.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
		case ev := <-ch:
			rv := runningView(j, user)
			rv.Message, rv.Done, rv.Total = ev.Message, min(ev.Done, ev.Total), ev.Total
			if err := s.writeEvent(w, r, "progress", web.TestProgressBox(*rv)); err != nil {
				return
			}
		case <-ended:
			ended, ch = nil, nil
			if _, err := fmt.Fprint(w, "event: done\ndata: "+j.id+"\n\n"); err != nil {
				return
			}
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
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
		p.verdict = web.Verdict{Kind: web.VerdictError, Text: "The test failed: " + firstSentence(runErr.Error()), Hints: p.failure.Hints}
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
		{Key: "okta-requests", Label: "Directory requests", Value: itoa(res.Stats.Requests)},
		{Key: "read-time", Label: "Read time", Value: formatDuration(readTime)},
	}
	p.counts = nonZero(p.counts)
	p.warnings, p.warningsTotal = capWarnings(res.Run.Warnings)
	names := userNames(plan.Users)
	if res.Changes != nil {
		p.changes = changesView(res.Changes, names)
	}
	if res.Bitwarden != nil {
		p.bitwarden = orgDiffView(res.Bitwarden)
		p.lists = p.bitwarden.Lists
		p.listKeys = make([][]string, len(p.lists))
		for i, l := range p.lists {
			keys := make([]string, len(l.Items))
			for k, it := range l.Items {
				keys[k] = strings.ToLower(it.Text) + "\x00" + strings.ToLower(it.ID)
			}
			p.listKeys[i] = keys
		}
	}
	p.verdict = testVerdict(res, c.Users, c.Groups)
	return p
}

// testVerdict is the sentence a test's result leads with.
func testVerdict(res *dsync.Result, users, groups int) web.Verdict {
	numbers := []web.Count{
		{Key: "users", Label: pluralWord(users, "user read", "users read"), Value: itoa(users)},
		{Key: "groups", Label: pluralWord(groups, "group", "groups"), Value: itoa(groups)},
	}
	numbers = nonZero(numbers) // no zero in the numbers line
	switch {
	case res.Plan.SkipPush:
		return web.Verdict{Kind: web.VerdictWarn, Numbers: numbers,
			Text:   "A sync would send nothing: the directory returned no users or groups for these settings.",
			Detail: "Check the user and group filters in Settings, then run the test again."}
	case res.BitwardenError != "":
		return web.Verdict{Kind: web.VerdictError, Numbers: numbers,
			Text:  "Bitwarden could not be read: " + res.BitwardenError,
			Hints: bitwardenHints(res.BitwardenError),
			Detail: "The directory was read, but the next sync would fail at this step. " +
				"Fix the Bitwarden settings and run the test again."}
	case res.Bitwarden == nil:
		return web.Verdict{Kind: web.VerdictInfo, Numbers: numbers,
			Text: "The directory was read; what would change in Bitwarden is not known for this test."}
	}
	n := res.Bitwarden.Counts
	numbers = append(numbers, orgNumbers(n)...)
	if res.Unchanged {
		return web.Verdict{Kind: web.VerdictOK, Numbers: numbers,
			Text:   "A sync would send nothing: the directory gives the same import as the last push.",
			Detail: "Bitwarden already has what dirsync would send."}
	}
	what := orgChangeSentence(n, false)
	if what == "" {
		return web.Verdict{Kind: web.VerdictOK, Numbers: numbers, Text: "A sync would change nothing in Bitwarden: it already matches the directory."}
	}
	if res.WouldHold {
		return web.Verdict{Kind: web.VerdictHeld, Numbers: numbers,
			Text:   "This sync would " + what + " — it would be HELD by the deletion guard (" + res.HoldReason + ").",
			Detail: "Nothing would be sent until an admin approves the run. If the removals are not expected, fix the directory or the filters first."}
	}
	return web.Verdict{Kind: web.VerdictOK, Numbers: numbers, Text: "This sync would " + what + "."}
}

// orgNumbers are the Bitwarden changes worth a number, none of them zero.
func orgNumbers(n dsync.OrgDiffCounts) []web.Count {
	return nonZero([]web.Count{
		{Key: "invites", Label: pluralWord(n.Invites, "invite", "invites"), Value: itoa(n.Invites)},
		{Key: "removals", Label: pluralWord(n.Removals, "removal", "removals"), Value: itoa(n.Removals)},
		{Key: "links", Label: pluralWord(n.Links, "link by email", "links by email"), Value: itoa(n.Links)},
		{Key: "groups-changed", Label: pluralWord(n.GroupsChanged, "group with member changes", "groups with member changes"), Value: itoa(n.GroupsChanged)},
		{Key: "memberships-added", Label: pluralWord(n.MembershipsAdded, "membership added", "memberships added"), Value: itoa(n.MembershipsAdded)},
		{Key: "memberships-removed", Label: pluralWord(n.MembershipsRemoved, "membership removed", "memberships removed"), Value: itoa(n.MembershipsRemoved)},
	})
}

// orgChangeSentence says what a push does to the organization: "invite
// 3, remove 2 and change 5 groups" (past: "invited 3, …"); "" for
// nothing.
func orgChangeSentence(n dsync.OrgDiffCounts, past bool) string {
	verb := func(now, then string) string {
		if past {
			return then
		}
		return now
	}
	var parts []string
	if n.Invites > 0 {
		parts = append(parts, verb("invite ", "invited ")+itoa(n.Invites))
	}
	if n.Removals > 0 {
		parts = append(parts, verb("remove ", "removed ")+itoa(n.Removals))
	}
	if n.Links > 0 {
		parts = append(parts, verb("link ", "linked ")+itoa(n.Links)+" existing "+pluralWord(n.Links, "member", "members")+" by email")
	}
	if n.GroupsCreated > 0 {
		parts = append(parts, verb("create ", "created ")+web.Plural(n.GroupsCreated, "group", "groups"))
	}
	if n.GroupsRenamed > 0 {
		parts = append(parts, verb("rename ", "renamed ")+web.Plural(n.GroupsRenamed, "group", "groups"))
	}
	if n.GroupsChanged > 0 {
		parts = append(parts, verb("change the members of ", "changed the members of ")+web.Plural(n.GroupsChanged, "group", "groups"))
	}
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// bitwardenHints says what to check when Bitwarden could not be read.
func bitwardenHints(msg string) []string {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "invalid_client") || strings.Contains(m, "client secret") || strings.Contains(m, "401"):
		return []string{
			"The client id and client secret in Settings → Bitwarden: copy them again from the Admin Console (Settings → Organization info → API key); the secret changes when the key is rotated.",
			"The server: the key only works on the server that issued it (bitwarden.com, bitwarden.eu or your own).",
		}
	case strings.Contains(m, "connection refused") || strings.Contains(m, "no such host") || strings.Contains(m, "timeout") || strings.Contains(m, "certificate"):
		return []string{"The server address in Settings → Bitwarden, and that this machine can reach it over https (proxy, firewall, DNS)."}
	}
	return []string{"The Bitwarden settings (server, client id, client secret), then the server log for details."}
}

// nonZero drops counts whose value is 0, except the keys named in keep.
func nonZero(cs []web.Count, keep ...string) []web.Count {
	out := cs[:0:0]
	for _, c := range cs {
		if c.Value != "0" || slices.Contains(keep, c.Key) {
			out = append(out, c)
		}
	}
	return out
}

// pluralWord is the noun alone for n.
func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// userNames maps directory ids to emails, so lists can name people.
func userNames(users []directory.User) map[string]string {
	m := make(map[string]string, len(users))
	for _, u := range users {
		if u.Email != "" {
			m[u.ID] = u.Email
		}
	}
	return m
}

// list returns the change list with this tab key, or nil.
func (p *preview) list(key string) *web.ChangeList {
	for i := range p.lists {
		if p.lists[i].Key == key {
			return &p.lists[i]
		}
	}
	return nil
}

// listPage is one page of a change list, searched on the server.
func (p *preview) listPage(id string, l web.ChangeList, query, pageParam string) *web.ItemPage {
	var keys []string
	for i := range p.lists {
		if p.lists[i].Key == l.Key {
			keys = p.listKeys[i]
		}
	}
	return itemPage(l, keys, query, pageParam, web.ItemPageID, "/test",
		map[string]string{"id": id, "tab": l.Key},
		func(q string, n int) string { return web.TestURL(id, l.Key, q, n) })
}

// itemPage cuts a change list to one page of the entries matching query.
func itemPage(l web.ChangeList, keys []string, query, pageParam, target, action string, hidden map[string]string, url func(q string, n int) string) *web.ItemPage {
	query = strings.TrimSpace(query)
	if len(query) > maxQueryLen {
		query = query[:maxQueryLen]
	}
	page, _ := strconv.Atoi(pageParam)
	ip := &web.ItemPage{Query: query, Target: target, Action: action, Hidden: hidden}
	rows := pageOf(keys, strings.ToLower(query), &page, &ip.Matches, &ip.Pages)
	ip.Page = page
	ip.List = web.ChangeList{Key: l.Key, Title: l.Title, Count: l.Count, Items: make([]web.ChangeItem, len(rows))}
	for i, k := range rows {
		ip.List.Items[i] = l.Items[k]
	}
	ip.URL = func(n int) string { return url(query, n) }
	return ip
}

// view is the page data of the preview, without the table.
func (p *preview) view(id string) web.TestView {
	v := web.TestView{
		ID: id, At: p.at, Unsaved: p.unsaved, Error: p.failure,
		Counts: p.counts, Warnings: p.warnings, WarningsTotal: p.warningsTotal,
		UserFilter: p.userFilter, GroupFilter: p.groupFilter,
		Changes: p.changes, Verdict: p.verdict,
	}
	if p.bitwarden != nil {
		// The page lists the first entries of each change; the whole list
		// is a tab of its own, paged and searchable.
		bw := *p.bitwarden
		bw.Lists = make([]web.ChangeList, len(p.lists))
		for i, l := range p.lists {
			if len(l.Items) > web.InlineItems {
				l.Items = l.Items[:web.InlineItems]
				l.More = web.TestURL(id, l.Key, "", 1) + "#preview-lists"
			}
			bw.Lists[i] = l
			v.Lists = append(v.Lists, web.ChangeList{Key: l.Key, Title: l.Title, Count: l.Count})
		}
		v.Bitwarden = &bw
	}
	return v
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

// errorHints says what to check for a failed test: the settings and the
// sync's own refusals first, then what the directory type knows of its
// errors (Settings.Explain).
func errorHints(err error, st config.Settings) []string {
	msg := err.Error()
	var fe config.FieldErrors
	switch {
	case errors.As(err, &fe):
		return []string{"The settings: open Settings and fix the fields it marks."}
	case strings.Contains(msg, "no settings saved"):
		return []string{"Fill in Settings (the directory and Bitwarden connections at least) and save them, or use “Test these settings” on the Settings page."}
	case strings.Contains(msg, "share an email"):
		return []string{"Duplicate emails: give each active directory account its own email, or leave one out with the user filter (exclude:…)."}
	case strings.Contains(msg, "largeImport"):
		return []string{"The size of the import: turn on Large import in Settings to send it in batches."}
	}
	if cur := st.Directory.Current(); cur != nil {
		if ex := cur.Explain(err); ex != nil && len(ex.Hints) > 0 {
			return ex.Hints
		}
	}
	return []string{"The settings (the directory connection, filters), then the server log for details; run the test again."}
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

// firstSentence cuts an error to its first line, for a heading.
func firstSentence(msg string) string {
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return msg
}
