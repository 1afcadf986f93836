package bwtest

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"unicode/utf16"

	"github.com/dirsync/dirsync/internal/bitwarden"
)

// Limits of Bitwarden's OrganizationImportRequestModel (StringLength
// attributes) and of the public import controller.
const (
	MaxEmailLen      = 256
	MaxExternalIDLen = 300
	MaxGroupNameLen  = 100
	MaxWithoutLarge  = 2000
)

// Messages the fake answers with, worded as Bitwarden's.
const (
	msgModelState = "The request's model state is invalid."
	msgServer     = "An unhandled server error has occurred."
)

// The wire shape, with pointers to tell null and missing from empty.
type wireImport struct {
	Groups            *[]wireGroup  `json:"groups"`
	Members           *[]wireMember `json:"members"`
	OverwriteExisting *bool         `json:"overwriteExisting"`
	LargeImport       *bool         `json:"largeImport"`
	// InviteUsersAfterProvisioning defaults to true on the server.
	InviteUsersAfterProvisioning *bool `json:"inviteUsersAfterProvisioning"`
}

type wireGroup struct {
	Name              *string   `json:"name"`
	ExternalID        *string   `json:"externalId"`
	MemberExternalIDs *[]string `json:"memberExternalIds"`
}

type wireMember struct {
	Email      *string `json:"email"`
	ExternalID *string `json:"externalId"`
	Deleted    *bool   `json:"deleted"`
}

func (m wireMember) deleted() bool { return m.Deleted != nil && *m.Deleted }

// importError is an answer that stops an import part-way.
type importError struct {
	status  int
	message string
	fields  map[string][]string
}

func serverError() *importError { return &importError{status: 500, message: msgServer} }

func badRequest(msg string) *importError { return &importError{status: 400, message: msg} }

// aggregate is how the Public API answers an AggregateException: the
// reasons are in "errors" under "An error has occurred."
// (src/Api/Utilities/ExceptionHandlerFilterAttribute.cs,
// src/Api/Models/Public/Response/ErrorResponseModel.cs).
func aggregate(msgs ...string) *importError {
	return &importError{status: 400, message: "Errors have occurred.", fields: map[string][]string{"An error has occurred.": msgs}}
}

// handleImport validates and applies an import the way Bitwarden's public
// OrganizationController.Import (src/Api/AdminConsole/Public/Controllers/OrganizationController.cs)
// and ImportOrganizationUsersAndGroupsCommand
// (src/Core/AdminConsole/OrganizationFeatures/Import/ImportOrganizationUsersAndGroupsCommand.cs)
// do, or, in Vaultwarden mode, as Vaultwarden's ldap_import
// (src/api/core/public.rs) does. Like the real servers, the import is not
// one transaction: a failure after the member steps (the overwrite
// refusal, the seat limit, groups not allowed, a null memberExternalIds)
// keeps the removals and links already made.
func (s *Server) handleImport(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "could not read the body", nil)
		return
	}
	rec := Import{Raw: raw}
	_ = json.Unmarshal(raw, &rec.Request)

	s.mu.Lock()
	s.imports = append(s.imports, rec)
	idx := len(s.imports) - 1
	var ierr *importError
	if f, ok := s.failImports[idx+1]; ok {
		delete(s.failImports, idx+1)
		ierr = &importError{status: f.status, message: f.message}
	} else if s.opts.Vaultwarden {
		ierr = s.importVaultwardenLocked(raw, &s.imports[idx])
	} else {
		ierr = s.importLocked(raw, &s.imports[idx])
	}
	status := http.StatusOK
	if ierr != nil {
		status = ierr.status
	}
	s.imports[idx].Status = status
	s.mu.Unlock()

	if ierr != nil {
		if s.opts.Vaultwarden {
			writeVaultwardenError(w, ierr.status, ierr.message)
			return
		}
		writeAPIError(w, ierr.status, ierr.message, ierr.fields)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func strLen(s string) int { return len(utf16.Encode([]rune(s))) }

// validEmail follows .NET's EmailAddressAttribute: one '@', not first or last.
func validEmail(s string) bool {
	i := strings.IndexByte(s, '@')
	return i > 0 && i == strings.LastIndexByte(s, '@') && i < len(s)-1
}

// validate is the model-state check ASP.NET runs before the controller.
func validate(in *wireImport) map[string][]string {
	fe := map[string][]string{}
	add := func(k, msg string) { fe[k] = append(fe[k], msg) }
	maxLen := func(k, field string, v string, n int) {
		if strLen(v) > n {
			add(k, fmt.Sprintf("The field %s must be a string with a maximum length of %d.", field, n))
		}
	}
	if in.OverwriteExisting == nil {
		add("OverwriteExisting", "The OverwriteExisting field is required.")
	}
	if in.Groups != nil {
		for i, g := range *in.Groups {
			p := fmt.Sprintf("Groups[%d].", i)
			if g.Name == nil || *g.Name == "" {
				add(p+"Name", "The Name field is required.")
			} else {
				maxLen(p+"Name", "Name", *g.Name, MaxGroupNameLen)
			}
			if g.ExternalID == nil || *g.ExternalID == "" {
				add(p+"ExternalId", "The ExternalId field is required.")
			} else {
				maxLen(p+"ExternalId", "ExternalId", *g.ExternalID, MaxExternalIDLen)
			}
		}
	}
	if in.Members != nil {
		for i, m := range *in.Members {
			p := fmt.Sprintf("Members[%d].", i)
			// [EmailAddress] accepts null but not "" (nor blanks): even a
			// deleted member's email must be null or absent, never empty
			// (OrganizationImportRequestModel.cs; .NET's
			// EmailAddressAttribute.IsValid). Validate() adds the "required"
			// message for an enabled member.
			email := ""
			if m.Email != nil {
				email = *m.Email
			}
			switch {
			case m.Email != nil && !validEmail(email):
				add(p+"Email", "The Email field is not a valid e-mail address.")
			case strings.TrimSpace(email) == "":
				if !m.deleted() {
					add(p+"Email", "Email is required for enabled members.")
				}
			case strLen(email) > MaxEmailLen:
				maxLen(p+"Email", "Email", email, MaxEmailLen)
			case !validEmail(email):
				add(p+"Email", "The Email field is not a valid e-mail address.")
			}
			if m.ExternalID == nil || *m.ExternalID == "" {
				add(p+"ExternalId", "The ExternalId field is required.")
			} else {
				maxLen(p+"ExternalId", "ExternalId", *m.ExternalID, MaxExternalIDLen)
			}
		}
	}
	if len(fe) == 0 {
		return nil
	}
	return fe
}

type importedUser struct{ email, externalID string }

// importLocked applies an import as Bitwarden does, step by step in the
// order of ImportOrganizationUsersAndGroupsCommand.ImportAsync: deleted
// members removed, overwriteExisting (refused when it would remove a
// member without a master password), members without externalId linked by
// email, new members invited or staged (with the seat rules of
// OrganizationService.SaveUsersSendInvitesAsync), then groups. Each step
// is kept when a later one fails.
func (s *Server) importLocked(raw []byte, rec *Import) *importError {
	var in wireImport
	if err := json.Unmarshal(raw, &in); err != nil {
		return &importError{status: 400, message: msgModelState, fields: map[string][]string{"$": {err.Error()}}}
	}
	if fe := validate(&in); fe != nil {
		return &importError{status: 400, message: msgModelState, fields: fe}
	}
	// The controller dereferences both arrays: a null is a server error.
	if in.Groups == nil || in.Members == nil {
		return serverError()
	}
	groups, members := *in.Groups, *in.Members
	var imported []importedUser
	var removeExt []string
	for _, m := range members {
		if m.deleted() {
			removeExt = append(removeExt, *m.ExternalID)
			continue
		}
		// ToImportedOrganizationUser lower-cases the email.
		imported = append(imported, importedUser{email: strings.ToLower(*m.Email), externalID: *m.ExternalID})
	}
	large := in.LargeImport != nil && *in.LargeImport
	if !s.opts.SelfHosted && !large && (len(groups) > MaxWithoutLarge || len(imported) > MaxWithoutLarge) {
		return badRequest(bitwarden.MsgTooMuchData)
	}
	if s.noDirectorySync {
		return badRequest(bitwarden.MsgCannotUseDirectory)
	}

	// OrganizationUserImportData: a snapshot of the org taken once. The
	// ext→id dictionary grows with links and invites, loses overwrite
	// removals, and keeps members removed as deleted.
	existing := slices.Clone(s.members)
	importedExt := map[string]bool{}
	for _, u := range imported {
		importedExt[u.externalID] = true
	}
	existingExt := map[string]*Member{}
	dict := map[string]string{}
	var withExt []*Member
	for _, m := range existing {
		if strings.TrimSpace(m.ExternalID) == "" {
			continue
		}
		if _, dup := existingExt[m.ExternalID]; dup {
			return serverError() // ToDictionary on a duplicate key
		}
		withExt = append(withExt, m)
		existingExt[m.ExternalID] = m
		dict[m.ExternalID] = m.ID
	}

	// 1. RemoveExistingExternalUsers: deleted members, unless also
	// imported live, or owners. No master-password check here: offboarding
	// members without one is allowed.
	removeSeen := map[string]bool{}
	for _, ext := range removeExt {
		if removeSeen[ext] {
			continue
		}
		removeSeen[ext] = true
		if m, ok := existingExt[ext]; ok && !importedExt[ext] && m.Type != Owner {
			s.removeLocked(m, rec)
		}
	}
	// 2. OverwriteExisting: every synced non-owner of the snapshot missing
	// from the live members (members just removed as deleted included), and
	// the whole import refused when one of them has no master password.
	if *in.OverwriteExisting {
		var del []*Member
		for _, m := range withExt {
			if _, inDict := dict[m.ExternalID]; m.Type != Owner && !importedExt[m.ExternalID] && inDict {
				del = append(del, m)
			}
		}
		for _, m := range del {
			if !m.hasMasterPassword() {
				rec.Refused = true
				return badRequest(bitwarden.MsgPreventUserRemoval)
			}
		}
		for _, m := range del {
			s.removeLocked(m, rec)
			delete(dict, m.ExternalID)
		}
	}
	// 3. UpdateExistingUsers: members without externalId are linked by
	// exact email (Dictionary<string,…> with the default comparer; the
	// imported emails are lower-cased, the stored ones as they are).
	if len(imported) > 0 {
		noExt := map[string]*Member{}
		var noExtOrder []*Member
		for _, m := range existing {
			if strings.TrimSpace(m.ExternalID) != "" {
				continue
			}
			if _, dup := noExt[m.Email]; dup {
				return serverError() // two unlinked members with one email
			}
			noExt[m.Email] = m
			noExtOrder = append(noExtOrder, m)
		}
		byEmail := map[string]importedUser{}
		for _, u := range imported {
			if _, dup := byEmail[u.email]; dup {
				return serverError() // two live members share an email
			}
			byEmail[u.email] = u
		}
		type link struct {
			m   *Member
			ext string
		}
		var links []link
		for _, m := range noExtOrder {
			u, ok := byEmail[m.Email]
			if !ok || slices.Index(s.members, m) < 0 {
				continue
			}
			if _, taken := dict[u.externalID]; taken {
				return serverError() // Dictionary.Add on a duplicate key, before UpsertManyAsync
			}
			dict[u.externalID] = m.ID
			links = append(links, link{m, u.externalID})
		}
		for _, l := range links {
			l.m.ExternalID = l.ext
			rec.Linked = append(rec.Linked, l.m.Email)
		}
	}
	// 4. AddNewUsers: imported externalIds not in the dictionary, with an
	// email; an email already in the org (any case) is skipped.
	orgEmails := make(map[string]bool, len(s.members))
	for _, m := range s.members {
		orgEmails[strings.ToLower(m.Email)] = true
	}
	var newUsers []importedUser
	for _, u := range imported {
		if _, known := dict[u.externalID]; known || strings.TrimSpace(u.email) == "" || orgEmails[u.email] {
			continue
		}
		orgEmails[u.email] = true
		newUsers = append(newUsers, u)
	}
	invite := in.InviteUsersAfterProvisioning == nil || *in.InviteUsersAfterProvisioning
	if !invite {
		// CreateStagedOrganizationUsersCommand: Staged, no invitation, no
		// seat check (staged members occupy no seat).
		for _, u := range newUsers {
			m := &Member{ID: s.nextID(1), Email: u.email, ExternalID: u.externalID, Type: User, Status: Staged}
			s.members = append(s.members, m)
			if _, ok := dict[u.externalID]; !ok {
				dict[u.externalID] = m.ID
			}
			rec.Staged = append(rec.Staged, m.Email)
		}
	} else if len(newUsers) > 0 {
		required := 0
		if s.seats != nil {
			required = len(newUsers) - (*s.seats - s.occupiedSeatsLocked())
		}
		if required > 0 {
			// CanScaleAsync.
			if s.opts.SelfHosted {
				return badRequest(bitwarden.MsgSelfHostedSeats)
			}
			if s.maxAutoscale != nil && *s.maxAutoscale < *s.seats+required {
				return badRequest(bitwarden.MsgSeatLimit)
			}
		}
		created := make([]*Member, 0, len(newUsers))
		for _, u := range newUsers {
			m := &Member{ID: s.nextID(1), Email: u.email, ExternalID: u.externalID, Type: User, Status: Invited}
			s.members = append(s.members, m)
			created = append(created, m)
		}
		if required > 0 {
			if s.seatPurchaseFails != "" {
				// AutoAddSeatsAsync failed inside the try block: the new
				// members are deleted again and the reason is aggregated.
				s.members = slices.DeleteFunc(s.members, func(m *Member) bool { return slices.Contains(created, m) })
				return aggregate(s.seatPurchaseFails)
			}
			*s.seats += required
			s.seatsBought += required
		}
		for _, m := range created {
			if _, ok := dict[m.ExternalID]; !ok {
				dict[m.ExternalID] = m.ID
			}
			rec.Invited = append(rec.Invited, m.Email)
			s.invites = append(s.invites, m.Email)
		}
	}
	// 5. ImportGroups.
	if len(groups) == 0 {
		return nil
	}
	if s.noGroups {
		return badRequest(bitwarden.MsgCannotUseGroups)
	}
	byExt := map[string]wireGroup{}
	for _, g := range groups {
		if g.MemberExternalIDs == nil {
			return serverError() // new HashSet<string>(null)
		}
		if _, dup := byExt[*g.ExternalID]; dup {
			return serverError() // GroupsDict: ToDictionary on a duplicate key
		}
		byExt[*g.ExternalID] = g
	}
	existingGroups := map[string]*Group{}
	for _, g := range s.groups {
		if strings.TrimSpace(g.ExternalID) == "" {
			continue
		}
		if _, dup := existingGroups[g.ExternalID]; dup {
			return serverError() // SaveNewGroups: ToDictionary on a duplicate key
		}
		existingGroups[g.ExternalID] = g
	}
	// Removed members stay in the ext→id map (as on the real server), but a
	// group can only hold current members.
	current := map[string]bool{}
	for _, m := range s.members {
		current[m.ID] = true
	}
	for _, g := range groups {
		ids := map[string]bool{}
		for _, ext := range *g.MemberExternalIDs {
			if id, ok := dict[ext]; ok && current[id] {
				ids[id] = true
			}
		}
		memberIDs := make([]string, 0, len(ids))
		for id := range ids {
			memberIDs = append(memberIDs, id)
		}
		slices.Sort(memberIDs)
		if eg, ok := existingGroups[*g.ExternalID]; ok {
			eg.Name = *g.Name
			eg.MemberIDs = memberIDs
			continue
		}
		ng := &Group{ID: s.nextID(2), Name: *g.Name, ExternalID: *g.ExternalID, MemberIDs: memberIDs}
		s.groups = append(s.groups, ng)
		existingGroups[ng.ExternalID] = ng
	}
	return nil
}

// occupiedSeatsLocked counts the members holding a seat: invited, accepted
// and confirmed (OrganizationUser_ReadOccupiedSeatCountByOrganizationId.sql:
// Status IN (0, 1, 2)); staged and revoked members hold none.
func (s *Server) occupiedSeatsLocked() int {
	n := 0
	for _, m := range s.members {
		if m.Status == Invited || m.Status == Accepted || m.Status == Confirmed {
			n++
		}
	}
	return n
}

// removeLocked removes a member from the org and its groups (a no-op if
// already removed).
func (s *Server) removeLocked(m *Member, rec *Import) {
	i := slices.Index(s.members, m)
	if i < 0 {
		return
	}
	s.members = slices.Delete(s.members, i, i+1)
	for _, g := range s.groups {
		g.MemberIDs = slices.DeleteFunc(g.MemberIDs, func(id string) bool { return id == m.ID })
	}
	rec.Removed = append(rec.Removed, m.Email)
	s.removals = append(s.removals, m.Email)
}

// The Vaultwarden import body (OrgImportData in src/api/core/public.rs):
// Rocket's JSON guard needs every field, and none may be null.
type vwImport struct {
	Groups *[]struct {
		Name              *string   `json:"name"`
		ExternalID        *string   `json:"externalId"`
		MemberExternalIDs *[]string `json:"memberExternalIds"`
	} `json:"groups"`
	Members *[]struct {
		Email      *string `json:"email"`
		ExternalID *string `json:"externalId"`
		Deleted    *bool   `json:"deleted"`
	} `json:"members"`
	OverwriteExisting *bool `json:"overwriteExisting"`
}

// importVaultwardenLocked applies an import as Vaultwarden's ldap_import
// does: members one by one in the order sent, matched by email (deleted:
// revoked, not removed, and given the sent externalId; live: restored and
// given the sent externalId; unknown: invited); then groups, only when the
// server enables them (found or created by externalId, never renamed, the
// membership rebuilt from the members' externalIds); then, with
// overwriteExisting, every member whose externalId is not among the sent
// members (deleted ones included) is removed — owners too, except the last
// confirmed owner. No 2,000 limit; inviteUsersAfterProvisioning is ignored.
func (s *Server) importVaultwardenLocked(raw []byte, rec *Import) *importError {
	var in vwImport
	bad := &importError{status: http.StatusUnprocessableEntity, message: "The request's JSON does not match what the server expects."}
	if err := json.Unmarshal(raw, &in); err != nil || in.Groups == nil || in.Members == nil || in.OverwriteExisting == nil {
		return bad
	}
	for _, m := range *in.Members {
		if m.Email == nil || m.ExternalID == nil || m.Deleted == nil {
			return bad
		}
	}
	for _, g := range *in.Groups {
		if g.Name == nil || g.ExternalID == nil || g.MemberExternalIDs == nil {
			return bad
		}
	}
	confirmedOwners := func() int {
		n := 0
		for _, m := range s.members {
			if m.Type == Owner && m.Status == Confirmed {
				n++
			}
		}
		return n
	}
	for _, u := range *in.Members {
		m := s.memberByEmailLocked(*u.Email)
		switch {
		case *u.Deleted:
			if m == nil {
				continue
			}
			if !(m.Type == Owner && m.Status == Confirmed && confirmedOwners() <= 1) && m.Status != Revoked {
				m.prevStatus, m.Status = m.Status, Revoked
				rec.Revoked = append(rec.Revoked, m.Email)
			}
			m.ExternalID = *u.ExternalID
		case m != nil:
			if m.Status == Revoked {
				m.Status = m.prevStatus
				rec.Restored = append(rec.Restored, m.Email)
			}
			m.ExternalID = *u.ExternalID
		default:
			nm := &Member{ID: s.nextID(1), UserID: s.nextID(3), Email: strings.ToLower(*u.Email), ExternalID: *u.ExternalID, Type: User, Status: Invited}
			s.members = append(s.members, nm)
			rec.Invited = append(rec.Invited, nm.Email)
			s.invites = append(s.invites, nm.Email)
		}
	}
	if s.opts.VaultwardenGroups {
		for _, gd := range *in.Groups {
			var g *Group
			for _, eg := range s.groups {
				if eg.ExternalID == *gd.ExternalID {
					g = eg
					break
				}
			}
			if g == nil {
				g = &Group{ID: s.nextID(2), Name: *gd.Name, ExternalID: *gd.ExternalID}
				s.groups = append(s.groups, g)
			}
			ids := map[string]bool{}
			for _, ext := range *gd.MemberExternalIDs {
				for _, m := range s.members {
					if m.ExternalID == ext {
						ids[m.ID] = true
						break
					}
				}
			}
			g.MemberIDs = slices.Sorted(maps.Keys(ids))
			if g.MemberIDs == nil {
				g.MemberIDs = []string{}
			}
		}
	}
	if *in.OverwriteExisting {
		sync := map[string]bool{}
		for _, u := range *in.Members {
			sync[*u.ExternalID] = true
		}
		for _, m := range slices.Clone(s.members) {
			if m.ExternalID == "" || sync[m.ExternalID] {
				continue
			}
			if m.Type == Owner && m.Status == Confirmed && confirmedOwners() <= 1 {
				continue
			}
			s.removeLocked(m, rec)
		}
	}
	return nil
}

// writeVaultwardenError answers in Vaultwarden's error shape
// (ApiErrorResponse in src/error.rs): the reason in "message", an empty
// "error".
func writeVaultwardenError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, map[string]any{
		"message": message, "validationErrors": map[string][]string{"": {message}},
		"errorModel": map[string]string{"message": message, "object": "error"},
		"error":      "", "error_description": "", "exceptionMessage": nil,
		"exceptionStackTrace": nil, "innerExceptionMessage": nil, "object": "error",
	})
}
