package bwtest

import (
	"encoding/json"
	"fmt"
	"io"
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
}

type wireGroup struct {
	Name              *string   `json:"name"`
	ExternalID        *string   `json:"externalId"`
	MemberExternalIDs *[]string `json:"memberExternalIds"`
}

type wireMember struct {
	Email      *string `json:"email"`
	ExternalID *string `json:"externalId"`
	Deleted    bool    `json:"deleted"`
}

// importError is an answer that stops an import part-way.
type importError struct {
	status  int
	message string
	fields  map[string][]string
}

func serverError() *importError { return &importError{status: 500, message: msgServer} }

func badRequest(msg string) *importError { return &importError{status: 400, message: msg} }

// handleImport validates and applies an import the way Bitwarden's public
// OrganizationController.Import and ImportOrganizationUsersAndGroupsCommand
// do. Like the real server, the import is not one transaction: a failure
// after the member steps (seat limit, groups not allowed, a null
// memberExternalIds) keeps the removals and links already made.
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
			email := ""
			if m.Email != nil {
				email = *m.Email
			}
			switch {
			case strings.TrimSpace(email) == "":
				if !m.Deleted {
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
		if m.Deleted {
			removeExt = append(removeExt, *m.ExternalID)
			continue
		}
		imported = append(imported, importedUser{email: strings.ToLower(*m.Email), externalID: *m.ExternalID})
	}
	large := in.LargeImport != nil && *in.LargeImport
	if !s.opts.SelfHosted && !large && (len(groups) > MaxWithoutLarge || len(imported) > MaxWithoutLarge) {
		return badRequest(bitwarden.MsgTooMuchData)
	}
	if s.noDirectorySync {
		return badRequest(bitwarden.MsgCannotUseDirectory)
	}

	importedExt := map[string]bool{}
	for _, u := range imported {
		importedExt[u.externalID] = true
	}
	// Snapshot of existing members with an externalId, and the ext→id map
	// the later steps grow.
	existingExt := map[string]*Member{}
	dict := map[string]string{}
	var withExt, noExt []*Member
	for _, m := range s.members {
		if strings.TrimSpace(m.ExternalID) == "" {
			noExt = append(noExt, m)
			continue
		}
		if _, dup := existingExt[m.ExternalID]; dup {
			return serverError() // ToDictionary on a duplicate key
		}
		withExt = append(withExt, m)
		existingExt[m.ExternalID] = m
		dict[m.ExternalID] = m.ID
	}

	// 1. Deleted members are removed unless also imported live, or owners.
	for _, ext := range removeExt {
		if m, ok := existingExt[ext]; ok && !importedExt[ext] && m.Type != Owner {
			s.removeLocked(m, rec)
		}
	}
	// 2. Overwrite removes synced members missing from the import.
	if *in.OverwriteExisting {
		for _, m := range withExt {
			if m.Type != Owner && !importedExt[m.ExternalID] {
				s.removeLocked(m, rec)
				delete(dict, m.ExternalID)
			}
		}
	}
	// 3. Members without externalId are linked by email.
	if len(imported) > 0 {
		byEmail := map[string]importedUser{}
		for _, u := range imported {
			if _, dup := byEmail[u.email]; dup {
				return serverError() // two live members share an email
			}
			byEmail[u.email] = u
		}
		for _, m := range noExt {
			u, ok := byEmail[strings.ToLower(m.Email)]
			if !ok {
				continue
			}
			if _, taken := dict[u.externalID]; taken {
				return serverError() // Dictionary.Add on a duplicate key
			}
			m.ExternalID = u.externalID
			dict[u.externalID] = m.ID
			rec.Linked = append(rec.Linked, m.Email)
		}
	}
	// 4. New members are invited; emails already in the org are skipped.
	var invites []importedUser
	known := map[string]bool{}
	for ext := range dict {
		known[ext] = true
	}
	seen := map[string]bool{}
	// Index the org by email once: a lookup per imported user would make
	// a 100,000-member import quadratic.
	orgEmails := make(map[string]bool, len(s.members))
	for _, m := range s.members {
		orgEmails[strings.ToLower(m.Email)] = true
	}
	for _, u := range imported {
		if known[u.externalID] || seen[u.email] {
			continue
		}
		if orgEmails[strings.ToLower(u.email)] {
			continue
		}
		seen[u.email] = true
		invites = append(invites, u)
	}
	if s.seatLimit > 0 && len(invites) > 0 {
		occupied := 0
		for _, m := range s.members {
			if m.Status != Revoked {
				occupied++
			}
		}
		if occupied+len(invites) > s.seatLimit {
			return badRequest(bitwarden.MsgSeatLimit)
		}
	}
	for _, u := range invites {
		m := &Member{ID: s.nextID(1), Email: u.email, ExternalID: u.externalID, Type: User, Status: Invited}
		s.members = append(s.members, m)
		if _, ok := dict[u.externalID]; !ok {
			dict[u.externalID] = m.ID
		}
		rec.Invited = append(rec.Invited, m.Email)
		s.invites = append(s.invites, m.Email)
	}
	// 5. Groups are created or renamed by externalId, membership replaced.
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
			return serverError()
		}
		byExt[*g.ExternalID] = g
	}
	existingGroups := map[string]*Group{}
	for _, g := range s.groups {
		if g.ExternalID != "" {
			existingGroups[g.ExternalID] = g
		}
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
