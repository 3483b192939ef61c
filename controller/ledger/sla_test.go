package ledger

import (
	"context"
	"io"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/fleet"
	"github.com/nines-sre/nines/controller/sla"
	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/controller/store/sqlite/sqlitetest"
	"github.com/nines-sre/nines/model"
)

const workedConfig = `regions: [{id: eu-london}, {id: eu-frankfurt}]
quorum: 2
probes:
  tokens:
    - {region: eu-london, token: london-token-0123456789}
    - {region: eu-frankfurt, token: frankfurt-token-0123456789}
defaults: {interval: 1m, timeout: 5s}
components:
  - id: api
    checks:
      - {id: calm, kind: http, http: {url: "http://127.0.0.1:9/a"}}
      - {id: global-outage, kind: http, http: {url: "http://127.0.0.1:9/b"}}
      - {id: regional-outage, kind: http, http: {url: "http://127.0.0.1:9/c"}}
slos:
  - {id: calm, checks: [calm], target: 99.9}
  - {id: global, checks: [global-outage], target: 99.9, window: 30d}
  - {id: regional, checks: [regional-outage], target: 99.9}
`

// harness is a ledger over a real SQLite store, with the regions' health
// history kept as the controller keeps it.
type harness struct {
	*Ledger
	store  store.Store
	cfg    atomic.Pointer[config.Config]
	probes *fleet.Registry
}

func (h *harness) Config() *config.Config { return h.cfg.Load() }

func newLedger(t testing.TB, yaml string, now func() time.Time) *harness {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	st := sqlitetest.Open(t)
	h := &harness{store: st, probes: fleet.NewRegistry()}
	h.cfg.Store(cfg)
	h.Ledger = New(Options{Store: st, Config: h.Config, Now: now, HealthyAt: h.probes.HealthyAtFor})
	return h
}

// The worked example: 99.9 % over 30 days is 43.2 minutes of budget; a
// 10-minute outage seen by every region leaves 33.2; one seen by one
// region only (a degraded minute, never confirmed) leaves all 43.2.
func TestWorkedExampleBudget(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 30, 0, time.UTC)
	c := newLedger(t, workedConfig, func() time.Time { return now })
	ctx := context.Background()
	end := now.Truncate(time.Minute)
	start := end.Add(-30 * 24 * time.Hour)
	outage := end.Add(-5 * 24 * time.Hour)
	healthyThroughout(c, []string{"eu-london", "eu-frankfurt"}, start.Add(-time.Hour), now)
	var batch []model.Result
	flush := func() {
		if _, err := c.store.InsertResults(ctx, batch); err != nil {
			t.Fatal(err)
		}
		batch = batch[:0]
	}
	for at := start; at.Before(end); at = at.Add(time.Minute) {
		inOutage := !at.Before(outage) && at.Before(outage.Add(10*time.Minute))
		for _, check := range []string{"calm", "global-outage", "regional-outage"} {
			for _, region := range []string{"eu-london", "eu-frankfurt"} {
				r := model.Result{Check: check, Region: region, Scheduled: at.Add(17 * time.Second), Started: at.Add(17 * time.Second),
					Probe: "p", DurationUS: 900, Outcome: model.OutcomeUp}
				if inOutage && (check == "global-outage" || (check == "regional-outage" && region == "eu-frankfurt")) {
					r.Outcome, r.ErrorClass = model.OutcomeDown, model.ErrConnect
				}
				batch = append(batch, r)
			}
		}
		if len(batch) >= 6000 {
			flush()
		}
	}
	flush()
	if err := c.EvaluateSlices(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		slo             string
		remaining, bad  float64
		burn1d, burn5m  float64
		exhaustsAtBurn0 bool
	}{
		{"calm", 43.2, 0, 0, 0, false},
		{"global", 33.2, 10, 0, 0, false},
		{"regional", 43.2, 0, 0, 0, false},
	} {
		r, err := c.SLOReport(ctx, c.Config().SLO(tc.slo), now)
		if err != nil {
			t.Fatal(err)
		}
		if r.Minutes.Valid != 43200 || math.Abs(r.ErrorBudget.Total-43.2) > 1e-9 {
			t.Errorf("%s: %d valid minutes, budget %.4f; want 43200 and 43.2", tc.slo, r.Minutes.Valid, r.ErrorBudget.Total)
		}
		if math.Abs(r.ErrorBudget.Remaining-tc.remaining) > 1e-9 || r.ErrorBudget.Consumed != tc.bad {
			t.Errorf("%s: remaining %.4f consumed %.1f, want %.1f and %.0f", tc.slo, r.ErrorBudget.Remaining, r.ErrorBudget.Consumed, tc.remaining, tc.bad)
		}
		if r.BurnRates["1d"] != 0 || r.BurnRates["3d"] != 0 || r.ExhaustedInSeconds != nil {
			t.Errorf("%s: an outage 5 days ago burns nothing in the last 3 days: %v", tc.slo, r.BurnRates)
		}
	}
	global, _ := c.SLOReport(ctx, c.Config().SLO("global"), now)
	if want := (33.2 / 43.2); math.Abs(global.ErrorBudget.RemainingRatio-want) > 1e-9 {
		t.Errorf("remaining ratio %.6f, want %.6f (%+v)", global.ErrorBudget.RemainingRatio, want, global)
	}
	if v := *global.Value; math.Abs(v-(1-10.0/43200)) > 1e-12 {
		t.Errorf("SLI %.8f", v)
	}
	// One more confirmed-down minute now: the 5-minute burn is 1/5 / 0.001 = 200.
	for _, region := range []string{"eu-london", "eu-frankfurt"} {
		at := end.Add(-time.Minute).Add(30 * time.Second)
		if _, err := c.store.InsertResults(ctx, []model.Result{{Check: "global-outage", Region: region, Scheduled: at, Started: at,
			Probe: "p", Outcome: model.OutcomeDown, ErrorClass: model.ErrTimeout}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.EvaluateSlices(ctx); err != nil {
		t.Fatal(err)
	}
	global, _ = c.SLOReport(ctx, c.Config().SLO("global"), now)
	if math.Abs(global.BurnRates["5m"]-200) > 1e-9 || math.Abs(global.BurnRates["1h"]-1000.0/60) > 1e-9 {
		t.Errorf("burn after a fresh bad minute: %v", global.BurnRates)
	}
	if global.ExhaustedInSeconds == nil {
		t.Fatal("no exhaustion estimate at a burn of 16.7")
	}
}

func TestReportListsIncidentsAndMaintenance(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	yaml := workedConfig + `maintenance:
  - {id: db-upgrade, reason: "database upgrade", components: [api], start: "2026-11-26T09:00:00Z", end: "2026-11-26T09:30:00Z"}
`
	c := newLedger(t, yaml, func() time.Time { return now })
	healthyThroughout(c, []string{"eu-london", "eu-frankfurt"}, now.Add(-7*time.Hour), now)
	ctx := context.Background()
	globalOutage(t, c, now.Add(-6*time.Hour), now, func(at time.Time) bool {
		return !at.Before(now.Add(-2*time.Hour)) && at.Before(now.Add(-2*time.Hour+7*time.Minute))
	})
	r, err := c.Report(ctx, now.Add(-6*time.Hour), now)
	if err != nil {
		t.Fatal(err)
	}
	var global SLOPeriodReport
	for _, s := range r.SLOs {
		if s.ID == "global" {
			global = s
		}
	}
	if len(global.Incidents) != 1 || global.Incidents[0].Minutes != 7 || !global.Incidents[0].Start.Equal(now.Add(-2*time.Hour)) {
		t.Fatalf("incidents %+v", global.Incidents)
	}
	// 360 minutes, 30 of them maintenance: 330 valid, 7 bad.
	if global.Minutes.Maintenance != 30 || global.Minutes.Bad != 7 || global.Minutes.Good != 323 || global.Met {
		t.Fatalf("minutes %+v, met %v", global.Minutes, global.Met)
	}
	// A period without data says so, and is never met.
	for _, s := range r.SLOs {
		if s.ID == "calm" && (s.Met || !s.NoData) {
			t.Fatalf("calm has no data in the period, yet met=%v no_data=%v", s.Met, s.NoData)
		}
	}
	if len(r.Maintenance) != 1 || len(r.Maintenance[0].Checks) != 3 {
		t.Fatalf("maintenance %+v", r.Maintenance)
	}
	for format, want := range map[string]string{
		"table": "global    availability  99.9%   97.879%   false    0.4 minutes  7",
		"csv":   "global,availability,2026-11-26T06:00:00Z,2026-11-26T12:00:00Z,99.9,0.9787878787878788,false,minutes,",
		"json":  `"budget_share":`,
		"html":  "<td>db-upgrade</td><td>2026-11-26 09:00 UTC</td>",
	} {
		var b strings.Builder
		if err := r.Render(&b, format); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), want) {
			t.Errorf("%s output lacks %q:\n%s", format, want, b.String())
		}
	}
	if err := r.Render(io.Discard, "pdf"); err == nil {
		t.Fatal("unknown format accepted")
	}
}

// A new installation: the budget is the target applied to the whole
// window from the first day (43.2 minutes for 99.9 % of 30 days), so two
// bad minutes spend 2 of 43.2, not more than a budget of valid minutes.
func TestNewInstallationBudgetIsTheWholeWindow(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 30, 0, time.UTC)
	c := newLedger(t, workedConfig, func() time.Time { return now })
	healthyThroughout(c, []string{"eu-london", "eu-frankfurt"}, now.Add(-time.Hour), now)
	ctx := context.Background()
	end := now.Truncate(time.Minute)
	globalOutage(t, c, end.Add(-10*time.Minute), end, func(at time.Time) bool {
		return at.Equal(end.Add(-5*time.Minute)) || at.Equal(end.Add(-4*time.Minute))
	})
	r, err := c.SLOReport(ctx, c.Config().SLO("global"), now)
	if err != nil {
		t.Fatal(err)
	}
	if b := r.ErrorBudget; math.Abs(b.Total-43.2) > 1e-9 || b.Consumed != 2 || math.Abs(b.Remaining-41.2) > 1e-9 {
		t.Fatalf("budget %+v, want 2 of 43.2 minutes spent", b)
	}
}

// Two outages charged to adjacent minutes, each confirmed and paged on its
// own, are two incidents in the report.
func TestReportKeepsAdjacentOutagesApart(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	c := newLedger(t, workedConfig, func() time.Time { return now })
	healthyThroughout(c, []string{"eu-london", "eu-frankfurt"}, now.Add(-2*time.Hour), now)
	ctx := context.Background()
	first := now.Add(-30 * time.Minute)
	globalOutage(t, c, now.Add(-time.Hour), now, func(at time.Time) bool { return at.Equal(first) || at.Equal(first.Add(time.Minute)) })
	for seq, at := range []time.Time{first, first.Add(time.Minute)} {
		if _, _, err := c.store.OpenIncident(ctx, store.IncidentOpening{AlertKey: "group:page", AlertSeq: int64(seq + 1), Components: []string{"api"},
			Checks: []string{"global-outage"}, Title: "API down in 3 of 3 regions", Impact: "critical", At: at}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := c.Report(ctx, now.Add(-time.Hour), now)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range r.SLOs {
		if s.ID == "global" && (len(s.Incidents) != 2 || s.Incidents[0].Minutes != 1 || s.Incidents[1].Minutes != 1) {
			t.Fatalf("incidents %+v, want two of one minute", s.Incidents)
		}
	}
}

// globalOutage stores a global-outage result from both regions of
// workedConfig for every minute in [from, to), down where down says, and
// brings the slices up to date.
func globalOutage(t *testing.T, c *harness, from, to time.Time, down func(time.Time) bool) {
	t.Helper()
	ctx := context.Background()
	var batch []model.Result
	for at := from; at.Before(to); at = at.Add(time.Minute) {
		for _, region := range []string{"eu-london", "eu-frankfurt"} {
			r := model.Result{Check: "global-outage", Region: region, Scheduled: at, Started: at, Probe: "p", Outcome: model.OutcomeUp}
			if down(at) {
				r.Outcome, r.ErrorClass = model.OutcomeDown, model.ErrStatus
			}
			batch = append(batch, r)
		}
	}
	if _, err := c.store.InsertResults(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if err := c.EvaluateSlices(ctx); err != nil {
		t.Fatal(err)
	}
}

// A failure whose confirmation round passed stays in the region's
// history and makes no minute degraded; one the round confirmed does.
func TestBlipMakesNoMinuteDegraded(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	c := newLedger(t, workedConfig, func() time.Time { return t0.Add(10 * time.Minute) })
	healthyThroughout(c, []string{"eu-london", "eu-frankfurt"}, t0.Add(-time.Hour), t0.Add(10*time.Minute))
	result := func(check, region string, sec int, o model.Outcome, onDemand bool) model.Result {
		at := t0.Add(time.Duration(sec) * time.Second)
		return model.Result{Check: check, Region: region, Scheduled: at, Started: at, Probe: "p", Outcome: o, OnDemand: onDemand}
	}
	var batch []model.Result
	for _, check := range []string{"calm", "regional-outage"} {
		for _, region := range []string{"eu-london", "eu-frankfurt"} {
			for sec := 0; sec < 300; sec += 60 {
				o := model.OutcomeUp
				if region == "eu-london" && sec == 120 {
					o = model.OutcomeDown
				}
				batch = append(batch, result(check, region, sec, o, false))
			}
		}
	}
	// calm's failure is re-run in both regions and passes; regional-outage's
	// re-run in london fails again.
	batch = append(batch, result("calm", "eu-london", 121, model.OutcomeUp, true), result("calm", "eu-frankfurt", 121, model.OutcomeUp, true),
		result("regional-outage", "eu-london", 121, model.OutcomeDown, true), result("regional-outage", "eu-frankfurt", 121, model.OutcomeUp, true))
	if _, err := c.store.InsertResults(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if err := c.EvaluateSlices(ctx); err != nil {
		t.Fatal(err)
	}
	m := sla.MinuteOf(t0.Add(2 * time.Minute))
	for check, want := range map[string]sla.Slice{"calm": sla.SliceUp, "regional-outage": sla.SliceDegraded} {
		got := sla.SliceUnknown
		if err := c.store.ServiceSlices(ctx, []string{check}, m, m+1, func(_ sla.Minute, s sla.Slice) { got = s }); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s at 10:02: %v, want %v", check, got, want)
		}
	}
	// The blip is still in london's history.
	rs, err := c.store.Results(ctx, store.Query{Check: "calm", Region: "eu-london", Since: t0.Add(2 * time.Minute), Until: t0.Add(2*time.Minute + time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Outcome != model.OutcomeDown {
		t.Fatalf("london's 10:02 results: %+v, want the failure", rs)
	}
}
