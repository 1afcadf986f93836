package sync

import (
	"context"
	"errors"
	"fmt"

	"github.com/dirsync/dirsync/internal/bitwarden"
	"github.com/dirsync/dirsync/internal/config"
)

// seatReader is the optional part of a Pusher that reads the
// organization's seats (Bitwarden cloud's subscription).
type seatReader interface {
	Subscription(ctx context.Context) (*bitwarden.Subscription, error)
}

// MsgNotListed is the run's one note when the server lists no members.
const MsgNotListed = "this server does not list members (GET /public/members answered 404) — Vaultwarden? dirsync predicts from the last successful push and Vaultwarden's rules"

// prediction is what a push would do and the requests that do it.
type prediction struct {
	diff    *OrgDiff
	batches []*bitwarden.ImportRequest
	// notes are one-line warnings for the run (the server lists nothing, the
	// seats could not be read).
	notes []string
}

// predictPush reads the organization with p (a new client for s when nil)
// and predicts what plan's push changes in it, adapting the requests to
// the server: SafeBatches where the listings show members without a
// master password, VaultwardenBatches where the server lists nothing.
// Where the listings are missing (404), the prediction starts from the
// last successful push of profileID.
func (e *Engine) predictPush(ctx context.Context, profileID int64, s config.Settings, p Pusher, plan *Plan) (*prediction, error) {
	if p == nil {
		var err error
		if p, err = e.NewPusher(s); err != nil {
			return nil, fmt.Errorf("sync: bitwarden: %w", err)
		}
	}
	members, err := p.ListMembers(ctx)
	if bitwarden.IsNotListed(err) {
		return e.predictVaultwarden(ctx, profileID, plan)
	}
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	groups, err := p.ListGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	pr := &prediction{}
	var sub *bitwarden.Subscription
	if sr, ok := p.(seatReader); ok {
		sub, err = sr.Subscription(ctx)
		switch {
		case errors.Is(err, bitwarden.ErrNoSubscription):
			sub = nil // self-hosted: the server does not tell its seats
		case err != nil:
			sub = nil
			pr.notes = append(pr.notes, "the organization's seats could not be read, so the preview cannot say whether the invites get seats: "+err.Error())
		}
	}
	batches, kept, first := SafeBatches(members, plan.Batches)
	d := PredictOrgDiffWith(OrgInput{Members: members, Groups: groups, Subscription: sub, Batches: batches})
	d.CannotRemove, d.RemovedFirst = kept, first
	d.Counts.CannotRemove, d.Counts.RemovedFirst = len(kept), len(first)
	pr.diff, pr.batches = d, batches
	return pr, nil
}

func (e *Engine) predictVaultwarden(ctx context.Context, profileID int64, plan *Plan) (*prediction, error) {
	var last *bitwarden.ImportRequest
	body, err := e.store.LastBody(ctx, profileID)
	if err == nil && len(body) > 0 {
		if last, err = decompressImport(body); err != nil {
			return nil, fmt.Errorf("this server does not list members, and the last push, which dirsync predicts from, cannot be read: %w", err)
		}
	}
	batches := VaultwardenBatches(plan.Batches)
	d := PredictVaultwarden(last, batches)
	return &prediction{diff: d, batches: batches, notes: []string{MsgNotListed}}, nil
}

// unverifiable says why a push to a server that lists nothing cannot be
// checked by the deletion guard: a first full overwrite, whose removals
// depend on members dirsync never saw ("" when it can be checked).
func unverifiable(s config.Settings, d *OrgDiff) string {
	if d.Basis == BasisNone && s.Sync.OverwriteExisting {
		return "this server does not list members and nothing was pushed to it yet, so dirsync cannot count what a full overwrite (sync.overwriteExisting) would remove"
	}
	return ""
}

// settingsGuardOn reports whether the deletion guard is on at all.
func settingsGuardOn(s config.Settings) bool {
	_, on := s.Guard.Threshold(1)
	return on
}

// afterTimeout handles a push that failed. An import that got no answer in
// time is never sent again: the organization is read again and, when it
// already shows everything the push was to change, the run counts as
// applied (applied true, err the note for the run); otherwise the run fails
// saying what is still outstanding, or that it could not tell, and the next
// run decides. Other failures are returned as they are.
func (e *Engine) afterTimeout(ctx context.Context, profileID int64, s config.Settings, p Pusher, plan *Plan, err error) (applied bool, _ error) {
	var te *bitwarden.ImportTimeoutError
	if !errors.As(err, &te) {
		return false, err
	}
	pr, rerr := e.predictPush(ctx, profileID, s, p, plan)
	switch {
	case rerr != nil:
		return false, fmt.Errorf("%w; reading the organization again failed too (%v), so dirsync cannot tell what was applied: the next run reads it and decides", err, rerr)
	case pr.diff.Basis != BasisListing:
		return false, fmt.Errorf("%w; this server does not list members, so dirsync cannot tell what was applied: the next run sends the import again", err)
	case pr.diff.Empty():
		return true, fmt.Errorf("the import got no answer within %s, but reading the organization again shows every change applied", te.After)
	}
	c := pr.diff.Counts
	return false, fmt.Errorf("%w; reading the organization again shows %d invites, %d removals and %d membership changes still to do: the next run reads it again and decides",
		err, c.Invites, c.Removals, c.MembershipsAdded+c.MembershipsRemoved)
}
