package sync

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory"
	"github.com/dirsync/dirsync/internal/store"
)

// Issue 8's guards: a read that may be short (a member list below its
// group's count, or far fewer users or memberships than the last accepted
// read) and a push that would take many people out of groups are held,
// like member removals; a run cannot outlive sync.timeoutMinutes.

// errRunTimeout is the cause of a run's context when sync.timeoutMinutes
// passes.
var errRunTimeout = errors.New("the run took longer than its time limit")

// readKey fingerprints the settings that shape what a read returns, so
// the shrink guard compares only reads of the same directory and filters.
func readKey(s config.Settings) string {
	b, _ := json.Marshal([]any{s.Directory.Type, directoryIdentity(s), s.Sync.Users, s.Sync.Groups,
		s.Sync.UserFilter, s.Sync.GroupFilter, s.Sync.RemoveDisabled})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// readFigures are what the shrink guard compares: live users and group
// memberships in the import.
func readFigures(p *Plan) (users, memberships int) {
	return p.Counts.Users - p.Counts.Deleted, p.Counts.Memberships
}

// setBaseline records an accepted read as the shrink guard's baseline.
func setBaseline(st *store.SyncState, s config.Settings, p *Plan) {
	st.ReadKey = readKey(s)
	st.ReadUsers, st.ReadMemberships = readFigures(p)
}

// readHold explains why a read must not be pushed without an admin's
// approval ("" when it may): groups whose member list stayed short of
// Okta's count, or a read that shrank against the last accepted one.
func readHold(s config.Settings, st store.SyncState, snap *directory.Snapshot, p *Plan) string {
	var msgs []string
	dir := "the directory"
	if k, ok := directory.Lookup(s.Directory.Type); ok {
		dir = k.Title
	}
	for i, sf := range snap.Shortfalls {
		if i == 3 {
			msgs = append(msgs, fmt.Sprintf("and %d more groups came back short", len(snap.Shortfalls)-3))
			break
		}
		msgs = append(msgs, fmt.Sprintf("the member list of group %q (%s) came back with %s members although %s counts %s, also when read again",
			sf.Name, sf.GroupID, thousands(sf.Read), dir, thousands(sf.Reported)))
	}
	if len(snap.Shortfalls) > 0 {
		msgs = append(msgs, dir+"'s count can lag a few minutes behind a change: approve only if the members listed are right (compare the group in "+dir+"'s admin console), otherwise discard and let the next run read again")
	}
	if pct := s.Guard.MaxShrinkPercent; pct > 0 && st.ReadKey == readKey(s) {
		users, memberships := readFigures(p)
		shrank := func(what string, now, before int) {
			if before > 0 && float64(before-now)*100 > pct*float64(before) {
				msgs = append(msgs, fmt.Sprintf("the read shrank: %s %s read, %s last time (%d%% fewer; the limit is %g%%, guard.maxShrinkPercent); if they really left the directory, approve this run",
					thousands(now), what, thousands(before), (before-now)*100/before, pct))
			}
		}
		shrank("live users", users, st.ReadUsers)
		if s.Sync.Groups {
			shrank("group memberships", memberships, st.ReadMemberships)
		}
	}
	return strings.Join(msgs, "; ")
}

// membershipGuardMessage explains why the membership guard holds a push
// ("" when it does not): it would remove more group memberships in
// Bitwarden than the smaller of guard.maxMembershipRemovals and
// guard.maxMembershipRemovalPercent of the memberships Bitwarden has now.
func membershipGuardMessage(g config.Guard, d *OrgDiff) string {
	limit, on := g.MembershipThreshold(d.OrgMemberships)
	if !on || d.Counts.MembershipsRemoved <= limit {
		return ""
	}
	var parts []string
	if g.MaxMembershipRemovals > 0 {
		parts = append(parts, fmt.Sprintf("at most %s memberships", thousands(g.MaxMembershipRemovals)))
	}
	if g.MaxMembershipRemovalPercent > 0 {
		parts = append(parts, fmt.Sprintf("%g%% of the memberships in Bitwarden", g.MaxMembershipRemovalPercent))
	}
	how := strings.Join(parts, "")
	if len(parts) == 2 {
		how = parts[0] + " or " + parts[1] + ", whichever is smaller"
	}
	return fmt.Sprintf("would remove %s of %s group memberships in Bitwarden (people lose the collections those groups grant); the limit is %s (%s)",
		thousands(d.Counts.MembershipsRemoved), thousands(d.OrgMemberships), thousands(limit), how)
}

// thousands formats n with commas: 1,504.
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// timeoutError explains a run stopped by sync.timeoutMinutes; pushing says
// whether batches had started going to Bitwarden.
func timeoutError(limit time.Duration, pushing bool, err error) error {
	sent := "nothing was sent to Bitwarden"
	if pushing {
		sent = "it was sending to Bitwarden, so batches before the one cut off may have been applied (the next run sends everything again)"
	}
	return fmt.Errorf("the run took longer than %s (sync.timeoutMinutes) and was stopped; %s. Check the directory's and Bitwarden's status, or raise the limit: %w",
		limit, sent, err)
}
