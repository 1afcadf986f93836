package server

import (
	"fmt"

	dsync "github.com/dirsync/dirsync/internal/sync"
	"github.com/dirsync/dirsync/web"
)

// addServerFacts completes a Bitwarden change view with what the
// prediction rests on (the server and its basis), the seats, staged
// members, the members sync cannot remove, the re-created accounts and the
// Vaultwarden restores. Kept apart from orgDiffView so the page layout and
// these facts change independently.
func addServerFacts(v *web.OrgDiffView, d *dsync.OrgDiff) {
	f := &web.BitwardenFactsView{BasisKey: d.Basis, Staged: d.Staged, CannotRemoveCount: d.Counts.CannotRemove}
	if d.Server == dsync.ServerVaultwarden {
		v.Summary = fmt.Sprintf("dirsync's last push to this server listed %d members, %d of them synced from the directory.", d.OrgMembers, d.SyncedMembers)
	}
	switch d.Basis {
	case dsync.BasisListing:
		f.Basis = "Predicted from the organization's members and groups as Bitwarden lists them now, by Bitwarden's import rules."
	case dsync.BasisLastPush:
		f.Basis = "This server does not list members — Vaultwarden? Predicted from the last successful push and Vaultwarden's rules (members matched by email; deleted members are revoked, not removed; groups only when the server enables them). Members dirsync never pushed are not known."
	case dsync.BasisNone:
		f.Basis = "This server does not list members — Vaultwarden? Nothing was pushed to it yet, so the organization's current members are unknown: the prediction assumes none."
	}
	if s := d.Seats; s != nil {
		switch {
		case s.Refused != "":
			f.Seats, f.SeatsRefused = "Seats: "+s.Refused+". Nothing will be sent until there are seats: raise the autoscale limit or add seats in Bitwarden, or narrow the user filter.", true
		case s.Needed == 0:
			f.Seats = fmt.Sprintf("Seats: %d in use of %d; the invites fit.", s.InUse, s.Seats)
		default:
			limit := "with no autoscale limit"
			if s.MaxAutoscale != nil {
				limit = fmt.Sprintf("up to the autoscale limit of %d", *s.MaxAutoscale)
			}
			f.Seats = fmt.Sprintf("Seats: %d in use of %d; the push needs %d more, which Bitwarden cloud buys and bills automatically (%s).", s.InUse, s.Seats, s.Needed, limit)
		}
	}
	for _, m := range d.CannotRemove {
		f.CannotRemove = append(f.CannotRemove, m.Email)
	}
	v.Facts = f
	n := d.Counts
	if d.Staged {
		for i := range v.Counts {
			if v.Counts[i].Key == "invites" {
				v.Counts[i].Label = "Staged"
			}
		}
		for i := range v.Lists {
			if v.Lists[i].Key == "invites" {
				v.Lists[i].Title = "Added as Staged (no invitation)"
			}
		}
	}
	// Only when there are some: the notice above the changes then says
	// who and why they stay; a zero would be a tile for nothing.
	if n.CannotRemove > 0 {
		v.Counts = append(v.Counts, web.Count{Key: "cannot-remove", Label: "Sync cannot remove", Value: itoa(n.CannotRemove)})
	}
	if n.Relinks > 0 {
		v.Counts = append(v.Counts, web.Count{Key: "relinks", Label: "Re-created accounts", Value: itoa(n.Relinks)})
		l := web.ChangeList{Key: "relinks", Title: "Re-created accounts: one member, now linked to the new Okta account", Count: n.Relinks}
		for _, r := range d.Relinks {
			l.Items = append(l.Items, web.ChangeItem{Text: fmt.Sprintf("%s — %s → %s", r.Email, r.From, r.To), ID: r.To})
		}
		v.Lists = append(v.Lists, l)
	}
	v.Lists = appendMemberList(v.Lists, "removed-first", "Removed first, in a request of their own (no master password; Bitwarden allows removing them outside a full overwrite)", n.RemovedFirst, d.RemovedFirst)
	v.Lists = appendMemberList(v.Lists, "restored", "Restored (revoked before, live again)", n.Restored, d.Restored)
	for i := range v.Lists {
		if v.Lists[i].Key != "removals" {
			continue
		}
		for j, m := range d.Removals {
			if m.Reason == dsync.RemovalRevoked && j < len(v.Lists[i].Items) {
				v.Lists[i].Items[j].Text = m.Email + " — sent as deleted (Vaultwarden revokes)"
			}
		}
	}
}
