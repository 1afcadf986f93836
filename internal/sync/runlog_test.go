package sync

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
)

// TestEveryLogLineOfARunHasItsID: the engine's own lines and the Okta
// client's (each request at debug, retries, "read done") carry the run id,
// so a run can be followed in logs shared by the console and the schedule.
func TestEveryLogLineOfARunHasItsID(t *testing.T) {
	h := newHarnessWith(t, smallOrg(), nil, oktatest.Options{})
	var buf bytes.Buffer
	h.engine.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// One failed request on the way, so a retry line is logged too.
	h.okta.FailNext("/api/v1/groups", 500, 1)
	res := h.mustRun(StatusSuccess)
	var okta, total int
	msgs := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		msg, _ := rec["msg"].(string)
		if msg == "marked runs of a stopped process as interrupted" {
			continue // before the run exists
		}
		total++
		msgs[msg] = true
		if strings.HasPrefix(msg, "okta:") {
			okta++
		}
		if id, _ := rec["run"].(float64); int64(id) != res.Run.ID {
			t.Errorf("a line of run %d lacks its id: %s", res.Run.ID, line)
		}
	}
	if okta < 5 || !msgs["okta: request"] || !msgs["okta: read done"] || !msgs["okta: request failed; retrying"] || !msgs["sync run finished"] {
		t.Errorf("%d lines, %d from Okta; messages %v: the run's Okta lines are missing", total, okta, msgs)
	}
}
