package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
	"github.com/dirsync/dirsync/web"
)

// runPage is GET /history/{id}: one run with its timings, counts,
// warnings, error and changes. 400 for an id that is not a number, 404 for
// an unknown run.
func (s *Server) runPage(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil || id <= 0 {
		s.renderError(w, r, http.StatusBadRequest, "Bad run id", "A run id is a whole number, as listed in History.")
		return
	}
	run, err := s.runs.GetRun(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && run.ProfileID != store.DefaultProfile) {
		s.renderError(w, r, http.StatusNotFound, "Run not found", fmt.Sprintf("There is no run %d. History lists every run that is kept.", id))
		return
	}
	if err != nil {
		s.serverError(w, r, fmt.Errorf("run page %d: %w", id, err))
		return
	}
	v := s.runPageView(r.Context(), run)
	q := r.URL.Query()
	// Long lists show their first entries; ?list= shows one whole list,
	// paged and searched on the server.
	base := fmt.Sprintf("/history/%d", id)
	pageLists := func(prefix string, lists []web.ChangeList) {
		for i := range lists {
			l := &lists[i]
			key := prefix + l.Key
			if key == q.Get("list") {
				keys := make([]string, len(l.Items))
				for k, it := range l.Items {
					keys[k] = strings.ToLower(it.Text) + "\x00" + strings.ToLower(it.ID)
				}
				whole := *l
				whole.Count = len(l.Items) // what the record kept
				v.ListPage = itemPage(whole, keys, q.Get("q"), q.Get("page"), web.ItemPageID, base,
					map[string]string{"list": key},
					func(query string, n int) string { return runListURL(id, key, query, n) })
			}
			if len(l.Items) > web.InlineItems {
				l.Items = l.Items[:web.InlineItems]
				l.More = runListURL(id, key, "", 1) + "#" + web.ItemPageID
			}
		}
	}
	// Membership changes as one flat list (a line per member and group),
	// and only the first groups and members inline.
	flatMemberships := func(prefix string, ms []web.MembershipView, more *string) []web.MembershipView {
		if len(ms) == 0 {
			return ms
		}
		l := web.ChangeList{Key: "memberships", Title: "Group membership changes"}
		for _, m := range ms {
			for _, a := range m.Added {
				l.Items = append(l.Items, web.ChangeItem{Text: m.Name + ": added " + a})
			}
			for _, r := range m.Removed {
				l.Items = append(l.Items, web.ChangeItem{Text: m.Name + ": removed " + r})
			}
		}
		l.Count = len(l.Items)
		lists := []web.ChangeList{l}
		pageLists(prefix, lists)
		cut := false
		if len(ms) > web.InlineGroups {
			ms, cut = ms[:web.InlineGroups], true
		}
		out := make([]web.MembershipView, len(ms))
		for i, m := range ms {
			if len(m.Added) > web.InlineItems {
				m.Added, cut = m.Added[:web.InlineItems], true
			}
			if len(m.Removed) > web.InlineItems {
				m.Removed, cut = m.Removed[:web.InlineItems], true
			}
			out[i] = m
		}
		if cut {
			*more = runListURL(id, prefix+"memberships", "", 1) + "#" + web.ItemPageID
		}
		return out
	}
	if v.Bitwarden != nil {
		pageLists("bitwarden-", v.Bitwarden.Lists)
		v.Bitwarden.Memberships = flatMemberships("bitwarden-", v.Bitwarden.Memberships, &v.Bitwarden.MembershipsMore)
	}
	if v.Changes != nil {
		pageLists("changes-", v.Changes.Lists)
		v.Changes.Memberships = flatMemberships("changes-", v.Changes.Memberships, &v.Changes.MembershipsMore)
	}
	if isHTMX(r) && r.Header.Get("HX-Target") == web.ItemPageID && v.ListPage != nil {
		s.renderFragment(w, r, http.StatusOK, web.ItemPageTable(*v.ListPage))
		return
	}
	s.render(w, r, http.StatusOK, s.page(r, "Run "+strconv.FormatInt(id, 10), "history"), web.RunPage(v))
}

// runListURL is the address of page n of one of a run's change lists.
func runListURL(id int64, key, q string, n int) string {
	v := url.Values{"list": {key}}
	if q != "" {
		v.Set("q", q)
	}
	if n > 1 {
		v.Set("page", strconv.Itoa(n))
	}
	return fmt.Sprintf("/history/%d?%s", id, v.Encode())
}

// runVerdict is the sentence a run's page leads with, from its record.
func runVerdict(run store.Run, ch *dsync.Changes) web.Verdict {
	c := run.Counts
	numbers := []web.Count{
		{Key: "users", Label: pluralWord(c.Users, "user read", "users read"), Value: itoa(c.Users)},
		{Key: "groups", Label: pluralWord(c.Groups, "group", "groups"), Value: itoa(c.Groups)},
	}
	// No zero in the numbers line: a run that failed before reading read
	// nothing, it did not read "0 users"; groups off is not "0 groups".
	numbers = nonZero(numbers)
	what := ""
	if ch != nil && ch.Bitwarden != nil {
		numbers = append(numbers, orgNumbers(ch.Bitwarden.Counts)...)
	} else {
		numbers = append(numbers, nonZero([]web.Count{
			{Key: "invites", Label: pluralWord(c.Invites, "invite", "invites"), Value: itoa(c.Invites)},
			{Key: "removals", Label: pluralWord(c.Removals, "removal", "removals"), Value: itoa(c.Removals)},
		})...)
	}
	sentence := func(past bool) string {
		if ch != nil && ch.Bitwarden != nil {
			return orgChangeSentence(ch.Bitwarden.Counts, past)
		}
		return orgChangeSentence(dsync.OrgDiffCounts{Invites: c.Invites, Removals: c.Removals}, past)
	}
	switch run.Status {
	case store.StatusRunning:
		return web.Verdict{Kind: web.VerdictInfo, Text: "This sync is running.", Numbers: nil}
	case store.StatusSuccess:
		if what = sentence(true); what == "" {
			return web.Verdict{Kind: web.VerdictOK, Numbers: numbers, Text: "This sync sent the import to Bitwarden; it changed nothing there."}
		}
		return web.Verdict{Kind: web.VerdictOK, Numbers: numbers, Text: "This sync " + what + "."}
	case store.StatusUnchanged:
		return web.Verdict{Kind: web.VerdictOK, Numbers: numbers, Text: "Nothing was sent: the directory gave the same import as the last push."}
	case store.StatusHeld:
		what = sentence(false)
		if what == "" {
			what = "remove members"
		}
		return web.Verdict{Kind: web.VerdictHeld, Numbers: numbers,
			Text:   "This sync would " + what + " — it was HELD by the deletion guard, so nothing was sent.",
			Detail: "Check the removals below, then approve the run to push it once, or discard it."}
	case store.StatusFailed:
		return web.Verdict{Kind: web.VerdictError, Numbers: numbers, Text: "The sync failed: " + firstSentence(run.Error)}
	case store.StatusDryRun:
		if what = sentence(false); what == "" {
			return web.Verdict{Kind: web.VerdictInfo, Numbers: numbers, Text: "A dry run: a sync would change nothing in Bitwarden; nothing was sent."}
		}
		return web.Verdict{Kind: web.VerdictInfo, Numbers: numbers, Text: "A dry run: a sync would " + what + "; nothing was sent."}
	}
	return web.Verdict{Kind: web.VerdictInfo, Numbers: numbers, Text: web.StatusHelp(run.Status)}
}

// runView turns a stored run into the page's data.
func runView(run store.Run) web.RunView {
	v := web.RunView{
		ID: run.ID, Trigger: run.Trigger, Status: run.Status, StartedAt: run.StartedAt, FinishedAt: run.FinishedAt,
		Duration: runDuration(run), Error: run.Error,
	}
	v.Warnings, v.WarningsTotal = capWarnings(run.Warnings)
	if len(run.Timings) > 0 {
		var t dsync.Timings
		if json.Unmarshal(run.Timings, &t) == nil {
			ms := func(n int64) string { return formatDuration(time.Duration(n) * time.Millisecond) }
			v.Timings = &web.RunTimings{Read: ms(t.ReadMS), Plan: ms(t.PlanMS), Push: ms(t.PushMS), Total: ms(t.TotalMS)}
		}
	}
	c := run.Counts
	sent := "Imports sent"
	if run.Status != store.StatusSuccess {
		// Nothing went out: say what the number is.
		sent = "Imports planned, not sent"
	}
	v.Counts = []web.Count{
		{Key: "users", Label: "Users", Value: itoa(c.Users)},
		{Key: "members", Label: "Members (not deleted)", Value: itoa(c.Members)},
		{Key: "deleted", Label: "Sent as deleted", Value: itoa(c.Deleted)},
		{Key: "disabled", Label: "Disabled in Okta", Value: itoa(c.Disabled)},
		{Key: "left-out", Label: "Left out", Value: itoa(c.Dropped)},
		{Key: "groups", Label: "Groups", Value: itoa(c.Groups)},
		{Key: "memberships", Label: "Memberships", Value: itoa(c.Memberships)},
		{Key: "batches", Label: sent, Value: itoa(c.Batches)},
		{Key: "okta-requests", Label: "Directory requests", Value: itoa(c.DirectoryRequests)},
		{Key: "invites", Label: "Invites", Value: itoa(c.Invites)},
		{Key: "removals", Label: "Removals", Value: itoa(c.Removals)},
	}
	// Runs recorded before delta reads, or that failed before reading,
	// have neither.
	if c.FullRead || c.UsersRead > 0 {
		v.Counts = append(v.Counts, web.Count{Key: "okta-read", Label: "Okta read", Value: readKind(c)})
	}
	if c.Batches > 0 && (c.PushedMembers > 0 || c.PushedGroups > 0) {
		v.Counts = append(v.Counts, web.Count{Key: "push-kind", Label: "Sent", Value: pushKind(c)})
	}
	v.Counts = nonZero(v.Counts)
	var rec *dsync.Changes
	if len(run.Changes) > 0 {
		var ch dsync.Changes
		if json.Unmarshal(run.Changes, &ch) == nil {
			rec = &ch
			v.Changes = changesView(&ch, recordNames(&ch))
			if ch.Bitwarden != nil {
				v.Bitwarden = orgDiffView(ch.Bitwarden)
			}
		}
	}
	v.Verdict = runVerdict(run, rec)
	return v
}

// recordNames maps directory ids to emails from what a Changes record
// names, so membership lists can show people rather than ids.
func recordNames(c *dsync.Changes) map[string]string {
	m := map[string]string{}
	add := func(refs []dsync.MemberRef) {
		for _, r := range refs {
			if r.Email != "" {
				m[r.ExternalID] = r.Email
			}
		}
	}
	add(c.MembersAdded)
	add(c.MembersRemoved)
	add(c.MembersDeleted)
	add(c.MembersRestored)
	for _, e := range c.EmailsChanged {
		m[e.ExternalID] = e.To
	}
	if d := c.Bitwarden; d != nil {
		add(d.Invites)
		add(d.Links)
		add(d.OwnersKept)
		add(d.EmailTaken)
		for _, r := range d.Removals {
			if r.Email != "" {
				m[r.ExternalID] = r.Email
			}
		}
	}
	return m
}

// changesView shows a Changes record: counts, then the kept lists.
// names maps directory ids to emails for the membership lists (ids
// without a name are shown as they are).
func changesView(c *dsync.Changes, names map[string]string) *web.ChangesView {
	n := c.Counts
	v := &web.ChangesView{
		First: c.First, Empty: c.Empty(), Truncated: c.Truncated,
		Counts: []web.Count{
			{Key: "members-added", Label: "Members added", Value: itoa(n.MembersAdded)},
			{Key: "members-removed", Label: "Members removed", Value: itoa(n.MembersRemoved)},
			{Key: "members-deleted", Label: "Members deleted", Value: itoa(n.MembersDeleted)},
			{Key: "members-restored", Label: "Members restored", Value: itoa(n.MembersRestored)},
			{Key: "emails-changed", Label: "Emails changed", Value: itoa(n.EmailsChanged)},
			{Key: "groups-added", Label: "Groups added", Value: itoa(n.GroupsAdded)},
			{Key: "groups-renamed", Label: "Groups renamed", Value: itoa(n.GroupsRenamed)},
			{Key: "groups-removed", Label: "Groups no longer synced", Value: itoa(n.GroupsRemoved)},
			{Key: "groups-changed", Label: "Groups with new members", Value: itoa(n.GroupsChanged)},
			{Key: "memberships-added", Label: "Memberships added", Value: itoa(n.MembershipsAdded)},
			{Key: "memberships-removed", Label: "Memberships removed", Value: itoa(n.MembershipsRemoved)},
		},
	}
	v.Counts = nonZero(v.Counts)
	members := func(key, title string, count int, refs []dsync.MemberRef) {
		v.Lists = appendMemberList(v.Lists, key, title, count, refs)
	}
	groups := func(key, title string, count int, refs []dsync.GroupRef) {
		if count == 0 {
			return
		}
		l := web.ChangeList{Key: key, Title: title, Count: count, Items: make([]web.ChangeItem, len(refs))}
		for i, g := range refs {
			l.Items[i] = web.ChangeItem{Text: g.Name, ID: g.ExternalID}
		}
		v.Lists = append(v.Lists, l)
	}
	members("members-added", "Members added", n.MembersAdded, c.MembersAdded)
	members("members-removed", "Members removed", n.MembersRemoved, c.MembersRemoved)
	members("members-deleted", "Members deleted", n.MembersDeleted, c.MembersDeleted)
	members("members-restored", "Members restored", n.MembersRestored, c.MembersRestored)
	if n.EmailsChanged > 0 {
		l := web.ChangeList{Key: "emails-changed", Title: "Emails changed", Count: n.EmailsChanged, Items: make([]web.ChangeItem, len(c.EmailsChanged))}
		for i, e := range c.EmailsChanged {
			l.Items[i] = web.ChangeItem{Text: e.From + " → " + e.To, ID: e.ExternalID}
		}
		v.Lists = append(v.Lists, l)
	}
	groups("groups-added", "Groups added", n.GroupsAdded, c.GroupsAdded)
	if n.GroupsRenamed > 0 {
		l := web.ChangeList{Key: "groups-renamed", Title: "Groups renamed", Count: n.GroupsRenamed, Items: make([]web.ChangeItem, len(c.GroupsRenamed))}
		for i, g := range c.GroupsRenamed {
			l.Items[i] = web.ChangeItem{Text: g.From + " → " + g.To, ID: g.ExternalID}
		}
		v.Lists = append(v.Lists, l)
	}
	groups("groups-removed", "Groups no longer synced", n.GroupsRemoved, c.GroupsRemoved)
	named := func(ids []string) []string {
		out := make([]string, len(ids))
		for i, id := range ids {
			if n, ok := names[id]; ok {
				out[i] = n
			} else {
				out[i] = id
			}
		}
		return out
	}
	for _, m := range c.MembershipChanges {
		v.Memberships = append(v.Memberships, membershipView(m.ExternalID, m.Name, named(m.Added), named(m.Removed)))
	}
	return v
}

// orgDiffView shows what a push changes in the Bitwarden organization.
func orgDiffView(d *dsync.OrgDiff) *web.OrgDiffView {
	n := d.Counts
	v := &web.OrgDiffView{
		Summary:   fmt.Sprintf("The organization has %d members, %d of them synced from the directory.", d.OrgMembers, d.SyncedMembers),
		Empty:     d.Empty(),
		Problems:  d.Problems,
		Truncated: d.Truncated,
		Counts: []web.Count{
			{Key: "invites", Label: "Invites", Value: itoa(n.Invites)},
			{Key: "removals", Label: "Removals", Value: itoa(n.Removals)},
			{Key: "links", Label: "Linked by email", Value: itoa(n.Links)},
			{Key: "groups-created", Label: "Groups created", Value: itoa(n.GroupsCreated)},
			{Key: "groups-renamed", Label: "Groups renamed", Value: itoa(n.GroupsRenamed)},
			{Key: "groups-changed", Label: "Groups with member changes", Value: itoa(n.GroupsChanged)},
			{Key: "memberships-added", Label: "Memberships added", Value: itoa(n.MembershipsAdded)},
			{Key: "memberships-removed", Label: "Memberships removed", Value: itoa(n.MembershipsRemoved)},
			{Key: "owners-kept", Label: "Owners kept", Value: itoa(n.OwnersKept)},
			{Key: "ignored", Label: "Group members ignored", Value: itoa(n.Ignored)},
		},
	}
	v.Counts = nonZero(v.Counts)
	members := func(key, title string, count int, refs []dsync.MemberRef) {
		v.Lists = appendMemberList(v.Lists, key, title, count, refs)
	}
	members("invites", "Invited", n.Invites, d.Invites)
	if n.Removals > 0 {
		l := web.ChangeList{Key: "removals", Title: "Removed from the organization", Count: n.Removals, Items: make([]web.ChangeItem, len(d.Removals))}
		for i, m := range d.Removals {
			why := "sent as deleted"
			if m.Reason == dsync.RemovalOverwrite {
				why = "not in the import (overwrite existing)"
			}
			l.Items[i] = web.ChangeItem{Text: m.Email + " — " + why, ID: m.ExternalID}
		}
		v.Lists = append(v.Lists, l)
	}
	members("links", "Linked to the directory by email", n.Links, d.Links)
	members("owners-kept", "Owners kept (the server never removes owners)", n.OwnersKept, d.OwnersKept)
	members("email-taken", "Not invited: the email belongs to another synced member", n.EmailTaken, d.EmailTaken)
	if n.GroupsCreated > 0 {
		l := web.ChangeList{Key: "groups-created", Title: "Groups created", Count: n.GroupsCreated, Items: make([]web.ChangeItem, len(d.GroupsCreated))}
		for i, g := range d.GroupsCreated {
			l.Items[i] = web.ChangeItem{Text: g.Name, ID: g.ExternalID}
		}
		v.Lists = append(v.Lists, l)
	}
	if n.GroupsRenamed > 0 {
		l := web.ChangeList{Key: "groups-renamed", Title: "Groups renamed", Count: n.GroupsRenamed, Items: make([]web.ChangeItem, len(d.GroupsRenamed))}
		for i, g := range d.GroupsRenamed {
			l.Items[i] = web.ChangeItem{Text: g.From + " → " + g.To, ID: g.ExternalID}
		}
		v.Lists = append(v.Lists, l)
	}
	if n.Ignored > 0 {
		l := web.ChangeList{Key: "ignored", Title: "Groups listing members the server ignores (not organization members)", Count: len(d.Ignored), Items: make([]web.ChangeItem, len(d.Ignored))}
		for i, g := range d.Ignored {
			l.Items[i] = web.ChangeItem{Text: fmt.Sprintf("%s: %d ids", g.Name, len(g.ExternalIDs)), ID: g.ExternalID}
		}
		v.Lists = append(v.Lists, l)
	}
	for _, m := range d.Memberships {
		v.Memberships = append(v.Memberships, membershipView(m.ExternalID, m.Name, m.Added, m.Removed))
	}
	addServerFacts(v, d)
	return v
}

// membershipView cuts a group's id lists to what a page shows.
func membershipView(id, name string, added, removed []string) web.MembershipView {
	cut := func(ids []string) []string {
		if len(ids) > web.MaxListedIDs {
			return ids[:web.MaxListedIDs]
		}
		return ids
	}
	return web.MembershipView{
		ID: id, Name: name, Added: cut(added), Removed: cut(removed),
		AddedTotal: len(added), RemovedTotal: len(removed),
	}
}

// appendMemberList adds a list of members to a change view, unless empty.
func appendMemberList(lists []web.ChangeList, key, title string, count int, refs []dsync.MemberRef) []web.ChangeList {
	if count == 0 {
		return lists
	}
	l := web.ChangeList{Key: key, Title: title, Count: count, Items: make([]web.ChangeItem, len(refs))}
	for i, m := range refs {
		l.Items[i] = web.ChangeItem{Text: m.Email, ID: m.ExternalID}
	}
	return append(lists, l)
}

// readKind says whether a run read everything or only the users changed
// since the last read (a delta read).
func readKind(c store.RunCounts) string {
	if c.FullRead {
		return "full (" + itoa(c.UsersRead) + " users)"
	}
	return "changed users only (" + itoa(c.UsersRead) + ")"
}

// pushKind says whether a push sent the whole import or only what changed
// since the last push.
func pushKind(c store.RunCounts) string {
	what := itoa(c.PushedMembers) + " members, " + itoa(c.PushedGroups) + " groups"
	if c.FullPush {
		return "everything (" + what + ")"
	}
	return "changes only (" + what + ")"
}
