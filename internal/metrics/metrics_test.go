package metrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/dirsync/dirsync/internal/bitwarden/bwtest"
	"github.com/dirsync/dirsync/internal/demo"
	_ "github.com/dirsync/dirsync/internal/directory/all"
	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
)

// scrape reads the handler over HTTP and returns each sample as
// "name{labels}" → value.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			key := name
			if ls := m.GetLabel(); len(ls) > 0 {
				key += "{"
				for i, l := range ls {
					if i > 0 {
						key += ","
					}
					key += l.GetName() + "=" + l.GetValue()
				}
				key += "}"
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[key+"_count"] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

func TestMetricsMoveAsRunsHappen(t *testing.T) {
	okta := oktatest.New(oktatest.Options{})
	defer okta.Close()
	okta.SetOrg(oktatest.Generate(oktatest.Spec{Users: 30, Groups: 3, MembersPerGroup: 6, Deprovisioned: 2, Seed: 9}))
	bw := bwtest.New(bwtest.Options{})
	defer bw.Close()
	st, err := store.Open(context.Background(), t.TempDir()+"/dirsync.db", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := demo.Save(context.Background(), st, store.DefaultProfile, demo.Settings(okta, bw)); err != nil {
		t.Fatal(err)
	}
	m := New()
	eng := dsync.New(st, "test")
	eng.DirectoryObserver = m.ObserveDirectory
	eng.BitwardenObserver = m.ObserveBitwarden
	eng.OnFinish = append(eng.OnFinish, m.OnFinish)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()

	run := func(want string) {
		t.Helper()
		res, _ := eng.Run(context.Background(), store.DefaultProfile, dsync.Options{Trigger: dsync.TriggerSchedule})
		if res.Run.Status != want {
			t.Fatalf("run %s (%s), want %s", res.Run.Status, res.Run.Error, want)
		}
	}
	before := scrape(t, srv.URL)
	if before["dirsync_runs_total{status=success,trigger=schedule}"] != 0 || before["dirsync_changes_pushed_total{kind=invites}"] != 0 {
		t.Fatalf("fresh metrics not zero: %v", before)
	}
	if _, ok := before["go_goroutines"]; !ok {
		t.Fatal("no Go collector")
	}

	run(dsync.StatusSuccess)
	after := scrape(t, srv.URL)
	checks := []struct {
		key  string
		want func(float64) bool
	}{
		{"dirsync_runs_total{status=success,trigger=schedule}", func(v float64) bool { return v == 1 }},
		{"dirsync_run_duration_seconds_count", func(v float64) bool { return v == 1 }},
		{"dirsync_last_success_timestamp_seconds", func(v float64) bool { return v > 1.7e9 }},
		{"dirsync_members_synced", func(v float64) bool { return v == 28 }},
		{"dirsync_groups_synced", func(v float64) bool { return v == 3 }},
		{"dirsync_changes_pushed_total{kind=invites}", func(v float64) bool { return v == 28 }},
		{"dirsync_changes_pushed_total{kind=groups_created}", func(v float64) bool { return v == 3 }},
		{"dirsync_okta_requests_total{status=200}", func(v float64) bool { return v >= 4 }},
		{"dirsync_okta_rate_limit_remaining{bucket=users}", func(v float64) bool { return v > 0 }},
		// token, members, groups (none yet), subscription (the seats), import
		{"dirsync_bitwarden_requests_total{status=200}", func(v float64) bool { return v == 5 }},
	}
	for _, c := range checks {
		if v, ok := after[c.key]; !ok || !c.want(v) {
			t.Errorf("%s = %v (present %v)", c.key, v, ok)
		}
	}

	// A failed run: counted by status, last success unchanged.
	okta.SetToken("rotated")
	run(dsync.StatusFailed)
	failed := scrape(t, srv.URL)
	if failed["dirsync_runs_total{status=failed,trigger=schedule}"] != 1 || failed["dirsync_okta_requests_total{status=401}"] < 1 {
		t.Errorf("after a failure: %v", failed)
	}
	if failed["dirsync_last_success_timestamp_seconds"] != after["dirsync_last_success_timestamp_seconds"] {
		t.Error("a failed run moved the last success time")
	}
	if failed["dirsync_changes_pushed_total{kind=invites}"] != 28 {
		t.Error("a failed run counted changes")
	}
}
