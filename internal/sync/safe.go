package sync

import (
	"slices"
	"strings"

	"github.com/dirsync/dirsync/internal/bitwarden"
)

// SafeBatches adapts the plan's requests so that Bitwarden's refusal of a
// full overwrite is never the reason a push fails. With overwriteExisting
// the server refuses the whole import (400, after applying the deleted
// removals) when a member it would remove has no master password
// (ImportOrganizationUsersAndGroupsCommand.OverwriteExisting). From what
// the Public API shows (invited or staged, or no userId):
//
//   - a member the overwrite would remove because it is missing from the
//     import is kept: it rides in the overwrite request as a live member
//     with its own externalId and email, so the server neither removes nor
//     invites it. It is returned in kept, for the run to list ("remove them
//     in Bitwarden, or they stay").
//   - a member the import sends as deleted is removed by a request of its
//     own, without overwriteExisting, before the overwrite request — the
//     server allows that "for offboarding". A kept member whose email a
//     live import member uses is removed the same way (a re-created
//     account), since two live members may not share an email.
//
// SSO, trusted-device and Key Connector users have no master password
// either, but the API does not show it: for them the server may still
// refuse, and the run explains it. Without overwriteExisting the requests
// are returned unchanged.
func SafeBatches(members []bitwarden.Member, batches []*bitwarden.ImportRequest) (out []*bitwarden.ImportRequest, kept, removedFirst []MemberRef) {
	oi := slices.IndexFunc(batches, func(b *bitwarden.ImportRequest) bool { return b.OverwriteExisting })
	if oi < 0 {
		return batches, nil, nil
	}
	ow := batches[oi]
	live := make(map[string]bool, len(ow.Members))
	liveEmails := make(map[string]bool, len(ow.Members))
	deleted := map[string]bool{}
	for _, m := range ow.Members {
		if m.Deleted {
			deleted[m.ExternalID] = true
			continue
		}
		live[m.ExternalID] = true
		liveEmails[strings.ToLower(m.Email)] = true
	}
	var pad, first []bitwarden.ImportMember
	seen := map[string]bool{}
	for _, m := range members {
		ext := m.ExternalID
		if strings.TrimSpace(ext) == "" || m.Type == bitwarden.MemberTypeOwner || live[ext] || seen[ext] || !m.MayLackMasterPassword() {
			continue
		}
		seen[ext] = true
		email := strings.ToLower(m.Email)
		ref := MemberRef{ExternalID: ext, Email: email}
		if deleted[ext] || liveEmails[email] || email == "" {
			first = append(first, bitwarden.ImportMember{Email: email, ExternalID: ext, Deleted: true})
			removedFirst = append(removedFirst, ref)
			continue
		}
		pad = append(pad, bitwarden.ImportMember{Email: email, ExternalID: ext})
		liveEmails[email] = true
		kept = append(kept, ref)
	}
	if len(pad) == 0 && len(first) == 0 {
		return batches, nil, nil
	}
	out = make([]*bitwarden.ImportRequest, 0, len(batches)+1)
	out = append(out, batches[:oi]...)
	if len(first) > 0 {
		slices.SortFunc(first, func(a, b bitwarden.ImportMember) int { return strings.Compare(a.ExternalID, b.ExternalID) })
		out = append(out, &bitwarden.ImportRequest{
			Groups: []bitwarden.ImportGroup{}, Members: first, LargeImport: ow.LargeImport,
			InviteUsersAfterProvisioning: ow.InviteUsersAfterProvisioning,
		})
	}
	cp := *ow
	if len(pad) > 0 {
		cp.Members = append(slices.Clone(ow.Members), pad...)
		slices.SortStableFunc(cp.Members, func(a, b bitwarden.ImportMember) int { return strings.Compare(a.ExternalID, b.ExternalID) })
	}
	out = append(out, &cp)
	out = append(out, batches[oi+1:]...)
	return out, kept, removedFirst
}
