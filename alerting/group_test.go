package alerting_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/alerting"
	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/store/sqlite"
	"github.com/nines-sre/nines/controller/store/sqlite/sqlitetest"
	"github.com/nines-sre/nines/model"
)

const groupConfig = `regions: [{id: r1}, {id: r2}, {id: r3}]
probes:
  tokens: [{region: r1, token: group-test-token-0001}]
components:
  - id: segments
    name: Segments API
    checks:
      - {id: segments-api, name: Segments API, kind: http, http: {url: "http://127.0.0.1:9/segments"}}
  - id: cdn
    name: Content CDN
    checks:
      - {id: cdn-manifest, name: Manifest, kind: http, http: {url: "http://127.0.0.1:9/manifest"}}
      - {id: cdn-content, name: Content, kind: http, http: {url: "http://127.0.0.1:9/content"}}
slos:
  - {id: avail, name: Segments availability, checks: [segments-api], target: 99.9}
alerting:
%s
  notifiers:
    - {id: pd, webhook: {url: "http://127.0.0.1:9/pd"}}
    - {id: pd2, webhook: {url: "http://127.0.0.1:9/pd2"}}
    - {id: desk, webhook: {url: "http://127.0.0.1:9/desk"}}
  policies:
    - {id: page, levels: [{delay: 0s, targets: [pd]}, {delay: 5m, targets: [pd2]}]}
    - {id: tickets, levels: [{targets: [desk]}]}
  rules:
    - {id: down, kind: check_down, policy: page, resolve_after: 1m}
    - {id: burn, kind: slo_burn, policy: page, ticket_policy: tickets}
`

// engineRig runs the engine over a real store on a fake clock.
type engineRig struct {
	t   *testing.T
	cfg *config.Config
	st  *sqlite.Store
	e   *alerting.Engine
	now time.Time
}

func newEngineRig(t *testing.T, grouping string) *engineRig {
	t.Helper()
	cfg, err := config.Parse("group.yaml", []byte(fmt.Sprintf(groupConfig, grouping)))
	if err != nil {
		t.Fatal(err)
	}
	st := sqlitetest.Open(t)
	return &engineRig{t: t, cfg: cfg, st: st, e: alerting.NewEngine(st, slog.New(slog.DiscardHandler), "test"),
		now: time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)}
}

// tick moves the clock on by d and evaluates checks (down in the regions
// given, up elsewhere) and SLO burn rates.
func (r *engineRig) tick(d time.Duration, failing map[string][]string, burn map[string]float64) {
	r.t.Helper()
	r.now = r.now.Add(d)
	s := alerting.Snapshot{Now: r.now, Checks: map[string]alerting.CheckState{}, Regions: map[string]alerting.RegionState{},
		SLOs: map[string]alerting.SLOState{"avail": {Burn: burn}}}
	for _, reg := range r.cfg.RegionIDs() {
		s.Regions[reg] = alerting.RegionState{Healthy: true}
	}
	for _, ch := range r.cfg.AllChecks() {
		f := failing[ch.ID]
		st := model.StatusUp
		switch {
		case len(f) >= 2:
			st = model.StatusDown
		case len(f) == 1:
			st = model.StatusDegraded
		}
		s.Checks[ch.ID] = alerting.CheckState{Status: st, Failing: f, Passing: 3 - len(f), Quorum: 2}
	}
	if err := r.e.Tick(context.Background(), alerting.Setup{Alerting: &r.cfg.Alerting, Topology: r.cfg}, s); err != nil {
		r.t.Fatal(err)
	}
}

// sent lists the notifications of a group, as notifier/action[+update].
func (r *engineRig) sent(key string) []string {
	r.t.Helper()
	hist, err := r.st.AlertNotifications(context.Background(), key)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for _, n := range hist {
		s := n.Notifier + "/" + string(n.Message.Action)
		if n.Message.Update {
			s += "+update"
		}
		out = append(out, s)
	}
	return out
}

func (r *engineRig) alert(key string) *alerting.Alert {
	r.t.Helper()
	a, err := r.st.Alert(context.Background(), key)
	if err != nil {
		r.t.Fatal(err)
	}
	return a
}

var all3 = []string{"r1", "r2", "r3"}

// One outage of three checks in two components is one page: the group
// waits group_wait for the checks that fail together, tells of a check
// that joins later once per group_interval, climbs only while something
// still fails, and resolves once, when the last check recovers.
func TestOneOutageIsOnePage(t *testing.T) {
	r := newEngineRig(t, "  group_wait: 2s\n  group_interval: 30s")
	r.tick(time.Second, map[string][]string{"segments-api": all3}, nil)
	r.tick(time.Second, map[string][]string{"segments-api": all3, "cdn-manifest": all3}, nil)
	if got := r.sent("group:page"); len(got) != 0 {
		t.Fatalf("notified within group_wait: %v", got)
	}
	r.tick(time.Second, map[string][]string{"segments-api": all3, "cdn-manifest": all3}, nil)
	if got := r.sent("group:page"); fmt.Sprint(got) != "[pd/trigger]" {
		t.Fatalf("after group_wait: %v", got)
	}
	g := r.alert("group:page")
	if g.State != alerting.StateFiring || len(g.Members) != 2 || !strings.HasPrefix(g.Summary, "2 alerts: Segments API is down") ||
		!strings.Contains(g.Summary, "; Manifest is down: failing in 3 of 3 regions") || g.Severity != "critical" || g.Urgency != "high" {
		t.Fatalf("the group: %+v", g)
	}
	// A third check joins: an update, no new page, after group_interval.
	both := map[string][]string{"segments-api": all3, "cdn-manifest": all3, "cdn-content": all3}
	r.tick(10*time.Second, both, nil)
	if got := r.sent("group:page"); len(got) != 1 {
		t.Fatalf("updated before group_interval: %v", got)
	}
	r.tick(20*time.Second, both, nil)
	if got := r.sent("group:page"); fmt.Sprint(got) != "[pd/trigger pd/trigger+update]" {
		t.Fatalf("a check joined: %v", got)
	}
	failing, _ := r.alert("group:page").Details["failing"].([]any)
	if len(failing) != 3 {
		t.Fatalf("details list %d failing alerts: %v", len(failing), r.alert("group:page").Details)
	}
	// Recovery before level 2: the checks recover (resolve_after 1m)
	// while the escalation delay passes; no level 2.
	r.tick(4*time.Minute, both, nil)
	r.tick(50*time.Second, nil, nil)
	r.tick(30*time.Second, nil, nil)
	r.tick(31*time.Second, nil, nil)
	if got := r.sent("group:page"); slices.Contains(got, "pd2/trigger") {
		t.Fatalf("escalated while recovering: %v", got)
	}
	if g := r.alert("group:page"); g.State != alerting.StateResolved {
		t.Fatalf("the group after every check recovered: %s", g.State)
	}
	if got := r.sent("group:page"); fmt.Sprint(got) != "[pd/trigger pd/trigger+update pd/resolve]" {
		t.Fatalf("the whole outage: %v", got)
	}
	// The next outage is a new incident of the group.
	r.tick(time.Minute, map[string][]string{"cdn-content": all3}, nil)
	r.tick(3*time.Second, map[string][]string{"cdn-content": all3}, nil)
	if g := r.alert("group:page"); g.Incident != 2 || g.State != alerting.StateFiring || len(g.Members) != 1 {
		t.Fatalf("the next outage: %+v", g)
	}
}

// Level 2 is paged while the outage goes on unacknowledged, never after
// its checks recovered; acknowledging any of its alerts acknowledges the
// group.
func TestGroupEscalatesOnlyWhileFailing(t *testing.T) {
	r := newEngineRig(t, "  group_wait: 0s")
	down := map[string][]string{"segments-api": all3}
	r.tick(time.Second, down, nil)
	r.tick(5*time.Minute, down, nil)
	if got := r.sent("group:page"); fmt.Sprint(got) != "[pd/trigger pd2/trigger]" {
		t.Fatalf("5 minutes unacknowledged: %v", got)
	}
	a, err := r.e.Acknowledge(context.Background(), &r.cfg.Alerting, "down:segments-api", "alice", r.now)
	if err != nil || a.Key != "group:page" || a.State != alerting.StateAcknowledged {
		t.Fatalf("ack through an alert of the group: %+v %v", a, err)
	}
	if got := r.sent("group:page"); fmt.Sprint(got) != "[pd/trigger pd2/trigger pd/acknowledge pd2/acknowledge]" {
		t.Fatalf("after the ack: %v", got)
	}
}

// A burn whose budget a paging check spends joins that check's group
// (no page of its own, a ticket tier neither), and once the check
// recovers the aftermath in the longer windows raises nothing; a burn
// with no outage behind it pages on its own.
func TestBurnJoinsTheOutageThatSpendsIt(t *testing.T) {
	r := newEngineRig(t, "  group_wait: 0s\n  group_by: [check]")
	down := map[string][]string{"segments-api": all3}
	begin := r.now
	r.tick(time.Second, down, nil)
	r.tick(time.Minute, down, burnOf(begin, r.now.Add(time.Minute), r.now.Add(time.Minute)))
	if b := r.alert("burn:avail/page"); b == nil || b.State != alerting.StateFiring || b.Group != "group:page/segments-api" || b.Cause != "down:segments-api" {
		t.Fatalf("the burn during the outage: %+v", b)
	}
	r.tick(3*time.Minute, down, burnOf(begin, r.now.Add(3*time.Minute), r.now.Add(3*time.Minute)))
	end := r.now
	if got := r.sent("group:page/avail/page"); len(got) != 0 {
		t.Fatalf("the burn paged on its own: %v", got)
	}
	// The check recovers (in the minute before the next tick, at worst at
	// its end); the longer windows hold the outage for hours.
	for range 8 * 60 {
		r.tick(time.Minute, nil, burnOf(begin, end.Add(time.Minute), r.now.Add(time.Minute)))
		if b := r.alert("burn:avail/page"); b.State != alerting.StateResolved && r.alert("down:segments-api").State == alerting.StateResolved {
			t.Fatalf("%s: the burn outlives its outage (%s)", r.now.Format(time.TimeOnly), b.State)
		}
		if a := r.alert("burn:avail/ticket"); a != nil && a.State != alerting.StateResolved {
			t.Fatalf("%s: a ticket for the outage's aftermath", r.now.Format(time.TimeOnly))
		}
	}
	if got := r.sent("group:page/segments-api"); fmt.Sprint(got) != "[pd/trigger pd/trigger+update pd/resolve]" {
		t.Fatalf("the outage's notifications: %v", got)
	}
	// The budget burns again with no outage (errors in some minutes): a
	// page of its own.
	r.tick(time.Minute, nil, map[string]float64{"5m": 30, "1h": 20})
	if b := r.alert("burn:avail/page"); b.State != alerting.StateFiring || b.Group != "group:page/avail/page" {
		t.Fatalf("a burn of its own: %+v", b)
	}
	if got := r.sent("group:page/avail/page"); fmt.Sprint(got) != "[pd/trigger]" {
		t.Fatalf("a burn of its own: %v", got)
	}
}

// burnOf is the burn rate in every window at now of a 99.9 % SLO whose
// only bad minutes were those [from, to) touched, counted as the ledger
// counts them: whole minutes, up to the one now is in (not yet closed).
func burnOf(from, to, now time.Time) map[string]float64 {
	out := map[string]float64{}
	first, last := from.Truncate(time.Minute), to.Add(-time.Nanosecond).Truncate(time.Minute)
	end := now.Truncate(time.Minute)
	for _, w := range config.BurnWindows {
		bad := 0
		for m := end.Add(-w.D); m.Before(end); m = m.Add(time.Minute) {
			if !m.Before(first) && !m.After(last) {
				bad++
			}
		}
		if bad > 0 {
			out[w.Name] = float64(bad) / w.D.Minutes() / 0.001
		}
	}
	return out
}
