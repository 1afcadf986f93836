package sync

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/dirsync/dirsync/internal/bitwarden"
	"github.com/dirsync/dirsync/internal/bitwarden/bwtest"
	"github.com/dirsync/dirsync/internal/config"
)

// TestCheckBitwardenServers checks what the connection check says of each
// kind of server: cloud with seats, no seat limit, every seat taken,
// self-hosted (no subscription), Vaultwarden (no listings), and that a
// broken listing or seats read is an error or a warning, not a success
// with made-up numbers.
func TestCheckBitwardenServers(t *testing.T) {
	ten, twenty := 10, 20
	two := 2
	for _, tc := range []struct {
		name     string
		opts     bwtest.Options
		seats    [2]*int
		prep     func(*bwtest.Server)
		summary  string
		facts    []string
		warning  string
		errorHas string
	}{
		{name: "cloud, seats and autoscale", seats: [2]*int{&ten, &twenty}, summary: "the organization has 2 members and 1 group",
			facts: []string{"2 members, 1 linked to a directory", "1 group", "2 in use of 10; Bitwarden buys more as invites need them, up to 20"}},
		{name: "cloud, no seat limit", summary: "2 members", facts: []string{"2 in use; no seat limit"}},
		{name: "cloud, every seat taken", seats: [2]*int{&two, &two}, facts: []string{"2 in use of 2; no autoscaling"}, warning: "Every seat is taken"},
		{name: "self-hosted", opts: bwtest.Options{SelfHosted: true}, facts: []string{"a self-hosted server does not tell its seat limit"}},
		{name: "Vaultwarden", opts: bwtest.Options{Vaultwarden: true}, summary: "the organization API key works", warning: "does not list members"},
		{name: "listing fails", prep: func(s *bwtest.Server) { s.FailReads(100, http.StatusInternalServerError, "") }, errorHas: "list members"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bw := bwtest.New(tc.opts)
			defer bw.Close()
			if !tc.opts.Vaultwarden {
				a := bw.AddMemberWith(bwtest.Member{Email: "a@example.com", ExternalID: "00u1", Status: bwtest.Confirmed})
				bw.AddMemberWith(bwtest.Member{Email: "b@example.com", Status: bwtest.Invited})
				bw.AddGroup("Engineering", "00g1", a.ID)
			}
			if tc.seats[0] != nil {
				bw.SetSeats(tc.seats[0], tc.seats[1])
			}
			if tc.prep != nil {
				tc.prep(bw)
			}
			e := New(nil, "test")
			e.NewPusher = retrylessPusher
			s := config.Defaults()
			s.Bitwarden.Server, s.Bitwarden.ClientID, s.Bitwarden.ClientSecret = bw.URL, bw.ClientID(), config.Secret(bw.ClientSecret())
			res, err := e.CheckBitwarden(context.Background(), s)
			if tc.errorHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errorHas) {
					t.Fatalf("err = %v, want one with %q", err, tc.errorHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(res.Summary, "Signed in to "+bw.URL) || !strings.Contains(res.Summary, tc.summary) {
				t.Errorf("summary %q, want it to say %q", res.Summary, tc.summary)
			}
			var facts []string
			for _, f := range res.Facts {
				facts = append(facts, f.Label+": "+f.Value)
			}
			all := strings.Join(facts, " | ")
			for _, want := range tc.facts {
				if !strings.Contains(all, want) {
					t.Errorf("facts %q lack %q", all, want)
				}
			}
			if w := strings.Join(res.Warnings, " "); (tc.warning == "") != (w == "") || !strings.Contains(w, tc.warning) {
				t.Errorf("warnings %q, want %q", w, tc.warning)
			}
			if n := len(bw.Imports()); n != 0 {
				t.Errorf("the check sent %d imports", n)
			}
		})
	}
}

// retrylessPusher is the default Bitwarden client with read retries off,
// so a failing listing fails at once.
func retrylessPusher(s config.Settings) (Pusher, error) {
	return bitwarden.New(bitwarden.Config{Server: s.Bitwarden.Server, ClientID: s.Bitwarden.ClientID,
		ClientSecret: s.Bitwarden.ClientSecret.Reveal(), RetryMaxElapsed: -1})
}
