// Package metrics exposes dirsync's Prometheus metrics on a registry of its
// own: runs by result, run duration, last success time, members and groups
// synced, changes pushed by kind, and the directory's and Bitwarden's
// requests by status. It is fed by the engine's hooks (Engine.OnFinish,
// Engine.DirectoryObserver, Engine.BitwardenObserver). The directory
// metrics are per registered type, named after it
// (dirsync_okta_requests_total, dirsync_ldap_requests_total), so that no
// type is named here.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dirsync/dirsync/internal/bitwarden"
	"github.com/dirsync/dirsync/internal/directory"
	dsync "github.com/dirsync/dirsync/internal/sync"
)

// Change kinds, the values of dirsync_changes_pushed_total's kind label.
const (
	KindInvites            = "invites"
	KindRemovals           = "removals"
	KindLinks              = "links"
	KindGroupsCreated      = "groups_created"
	KindGroupsRenamed      = "groups_renamed"
	KindMembershipsAdded   = "memberships_added"
	KindMembershipsRemoved = "memberships_removed"
)

// Metrics holds the collectors. Its methods are safe for concurrent use.
type Metrics struct {
	// Registry holds dirsync's collectors plus the Go and process ones.
	Registry *prometheus.Registry

	runs        *prometheus.CounterVec
	duration    prometheus.Histogram
	lastSuccess prometheus.Gauge
	members     prometheus.Gauge
	groups      prometheus.Gauge
	changes     *prometheus.CounterVec
	// dirRequests and dirRemaining are by directory type (Kind.Name).
	dirRequests  map[string]*prometheus.CounterVec
	dirRemaining map[string]*prometheus.GaugeVec
	bwRequests   *prometheus.CounterVec
}

// New registers every metric on a new registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dirsync_runs_total", Help: "Recorded sync runs by final status and trigger.",
		}, []string{"status", "trigger"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "dirsync_run_duration_seconds", Help: "Duration of recorded sync runs.",
			Buckets: []float64{0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800},
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dirsync_last_success_timestamp_seconds", Help: "Unix time of the last successful (pushed or unchanged) run; alert when it gets old.",
		}),
		members: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dirsync_members_synced", Help: "Live members in the import of the last successful run.",
		}),
		groups: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dirsync_groups_synced", Help: "Groups in the import of the last successful run.",
		}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dirsync_changes_pushed_total", Help: "Changes pushed to Bitwarden by kind, as predicted from the organization before each push.",
		}, []string{"kind"}),
		dirRequests:  map[string]*prometheus.CounterVec{},
		dirRemaining: map[string]*prometheus.GaugeVec{},
		bwRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dirsync_bitwarden_requests_total", Help: "Bitwarden requests by HTTP status (\"error\" when no answer arrived).",
		}, []string{"status"}),
	}
	for _, k := range directory.Kinds() {
		m.dirRequests[k.Name] = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dirsync_" + k.Name + "_requests_total", Help: k.Title + " requests by status (HTTP status or LDAP result code; \"error\" when no answer arrived).",
		}, []string{"status"})
		m.dirRemaining[k.Name] = prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dirsync_" + k.Name + "_rate_limit_remaining", Help: "The rate limit left after the last " + k.Title + " answer (Okta's X-Rate-Limit-Remaining), by endpoint family.",
		}, []string{"bucket"})
		m.Registry.MustRegister(m.dirRequests[k.Name], m.dirRemaining[k.Name])
	}
	m.Registry.MustRegister(m.runs, m.duration, m.lastSuccess, m.members, m.groups, m.changes, m.bwRequests,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Every kind shows from the start, at zero.
	for _, k := range []string{KindInvites, KindRemovals, KindLinks, KindGroupsCreated, KindGroupsRenamed, KindMembershipsAdded, KindMembershipsRemoved} {
		m.changes.WithLabelValues(k)
	}
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// SetLastSuccess sets the last-success gauge, e.g. from the stored sync
// state at start, so a restart does not look like a stale sync.
func (m *Metrics) SetLastSuccess(t time.Time) {
	if !t.IsZero() {
		m.lastSuccess.Set(float64(t.UnixNano()) / 1e9)
	}
}

// OnFinish is the engine hook for run metrics.
func (m *Metrics) OnFinish(_ context.Context, res *dsync.Result) {
	if res == nil {
		return
	}
	r := res.Run
	m.runs.WithLabelValues(r.Status, r.Trigger).Inc()
	if r.FinishedAt != nil {
		m.duration.Observe(r.FinishedAt.Sub(r.StartedAt).Seconds())
	}
	if r.Status != dsync.StatusSuccess && r.Status != dsync.StatusUnchanged {
		return
	}
	if r.FinishedAt != nil {
		m.SetLastSuccess(*r.FinishedAt)
	}
	if res.Plan != nil {
		m.members.Set(float64(r.Counts.Members))
		m.groups.Set(float64(r.Counts.Groups))
	}
	if d := res.Bitwarden; d != nil && r.Status == dsync.StatusSuccess {
		c := d.Counts
		for k, v := range map[string]int{
			KindInvites: c.Invites, KindRemovals: c.Removals, KindLinks: c.Links, KindGroupsCreated: c.GroupsCreated,
			KindGroupsRenamed: c.GroupsRenamed, KindMembershipsAdded: c.MembershipsAdded, KindMembershipsRemoved: c.MembershipsRemoved,
		} {
			m.changes.WithLabelValues(k).Add(float64(v))
		}
	}
}

// ObserveDirectory counts one request of a directory source
// (Engine.DirectoryObserver). Events of a type registered after New are
// not counted.
func (m *Metrics) ObserveDirectory(ev directory.RequestEvent) {
	if c := m.dirRequests[ev.Kind]; c != nil {
		c.WithLabelValues(statusLabel(ev.Status)).Inc()
	}
	if g := m.dirRemaining[ev.Kind]; g != nil && ev.RateLimitRemaining >= 0 && ev.Bucket != "" {
		g.WithLabelValues(ev.Bucket).Set(float64(ev.RateLimitRemaining))
	}
}

// ObserveBitwarden counts one Bitwarden request (Engine.BitwardenObserver).
func (m *Metrics) ObserveBitwarden(ev bitwarden.RequestEvent) {
	m.bwRequests.WithLabelValues(statusLabel(ev.Status)).Inc()
}

func statusLabel(code int) string {
	if code == 0 {
		return "error"
	}
	return strconv.Itoa(code)
}
