package ledger

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/model"
)

// TestLatencySLOMatchesBruteForce: a latency SLI counts occurrences, every
// regional result of the SLO's checks, good when up and under the threshold,
// none under maintenance. The figures match a direct count, also when the
// SLO is added after the results (its history is backfilled).
func TestLatencySLOMatchesBruteForce(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC).Add(time.Duration(rapid.IntRange(0, 59).Draw(rt, "now-seconds")) * time.Second)
		threshold := []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, time.Second}[rapid.IntRange(0, 2).Draw(rt, "threshold")]
		target := []float64{90, 99, 99.9}[rapid.IntRange(0, 2).Draw(rt, "target")]
		window := []string{"1h", "2h"}[rapid.IntRange(0, 1).Draw(rt, "window")]
		addedLater := rapid.Bool().Draw(rt, "slo-added-later")
		rng := rand.New(rand.NewPCG(rapid.Uint64().Draw(rt, "seed"), 2))
		start := now.Add(-150 * time.Minute).Truncate(time.Minute)
		maintStart := start.Add(time.Duration(rapid.IntRange(0, 140).Draw(rt, "maint-start")) * time.Minute)
		maintEnd := maintStart.Add(time.Duration(rapid.IntRange(0, 30).Draw(rt, "maint-minutes")) * time.Minute)
		var results []model.Result
		for _, ch := range []string{"x", "y"} {
			for _, region := range []string{"r1", "r2"} {
				slow := rapid.Float64Range(0, 1).Draw(rt, "slow-"+ch+region)
				for at := start.Add(time.Duration(rng.IntN(60)) * time.Second); at.Before(now); at = at.Add(30 * time.Second) {
					if rng.Float64() < 0.1 {
						continue
					}
					d := time.Duration(rng.IntN(200)) * time.Millisecond
					if rng.Float64() < slow {
						d = time.Duration(200+rng.IntN(1500)) * time.Millisecond
					}
					r := model.Result{Check: ch, Region: region, Scheduled: at, Started: at, Probe: "p", DurationUS: d.Microseconds(), Outcome: model.OutcomeUp}
					if rng.Float64() < 0.05 {
						r.Outcome, r.ErrorClass = model.OutcomeDown, model.ErrTimeout
					}
					results = append(results, r)
				}
			}
		}
		base := `regions: [{id: r1}, {id: r2}]
quorum: 1
probes:
  tokens: [{region: r1, token: latency-test-token-01}]
components:
  - id: svc
    checks:
      - {id: x, kind: http, interval: 30s, timeout: 5s, http: {url: "http://127.0.0.1:9/x"}}
      - {id: y, kind: http, interval: 30s, timeout: 5s, http: {url: "http://127.0.0.1:9/y"}}
` + fmt.Sprintf("maintenance:\n  - {id: m, checks: [x], start: %s, end: %s}\n", maintStart.Format(time.RFC3339), maintEnd.Add(time.Second).Format(time.RFC3339))
		withSLO := base + fmt.Sprintf("slos:\n  - {id: fast, checks: [x, y], sli: latency, threshold: %s, target: %v, window: %s}\n", threshold, target, window)
		first := withSLO
		if addedLater {
			first = base
		}
		c := newLedger(t, first, func() time.Time { return now })
		healthyThroughout(c, []string{"r1", "r2"}, start.Add(-time.Hour), now)
		ctx := context.Background()
		for len(results) > 0 {
			n := min(len(results), rapid.IntRange(1, 300).Draw(rt, "batch"))
			if _, err := c.store.InsertResults(ctx, results[:n]); err != nil {
				rt.Fatal(err)
			}
			if err := c.EvaluateSlices(ctx); err != nil {
				rt.Fatal(err)
			}
			results = results[n:]
		}
		if addedLater {
			cfg, err := config.Parse("later.yaml", []byte(withSLO))
			if err != nil {
				rt.Fatal(err)
			}
			c.cfg.Store(cfg)
			if err := c.EvaluateSlices(ctx); err != nil {
				rt.Fatal(err)
			}
		}
		got, err := c.SLOReport(ctx, c.Config().SLO("fast"), now)
		if err != nil {
			rt.Fatal(err)
		}

		all, err := c.store.Results(ctx, storeQuery("x", start))
		if err != nil {
			rt.Fatal(err)
		}
		ys, _ := c.store.Results(ctx, storeQuery("y", start))
		all = append(all, ys...)
		to := now.Truncate(time.Minute)
		count := func(from time.Time) (good, total int) {
			for _, r := range all {
				if r.Scheduled.Before(from) || !r.Scheduled.Before(to) {
					continue
				}
				minute := r.Scheduled.Truncate(time.Minute)
				if r.Check == "x" && !minute.Before(maintStart) && minute.Before(maintEnd.Add(time.Second)) {
					continue
				}
				total++
				if r.Outcome == model.OutcomeUp && r.Latency() < threshold {
					good++
				}
			}
			return
		}
		w := map[string]time.Duration{"1h": time.Hour, "2h": 2 * time.Hour}[window]
		good, total := count(to.Add(-w))
		if got.Events == nil || got.Events.Good != good || got.Events.Total != total {
			rt.Fatalf("events %+v, brute force good %d of %d", got.Events, good, total)
		}
		// Budgets and burn rates count against the results expected: two
		// checks in two regions every 30 s, 8 a minute.
		expected := func(d time.Duration) int { return max(int(8*d.Minutes()), 0) }
		ratio := target / 100
		if want := (1 - ratio) * float64(max(total, expected(w))); math.Abs(got.ErrorBudget.Total-want) > 1e-9*math.Max(1, want) || got.ErrorBudget.Unit != "events" {
			rt.Fatalf("budget %+v, want %v events", got.ErrorBudget, want)
		}
		for name, d := range map[string]time.Duration{"5m": 5 * time.Minute, "30m": 30 * time.Minute, "1h": time.Hour, "6h": 6 * time.Hour} {
			g, n := count(to.Add(-d))
			want := float64(n-g) / float64(max(n, expected(d))) / (1 - ratio)
			if math.Abs(got.BurnRates[name]-want) > 1e-9*math.Max(1, want) {
				rt.Fatalf("burn %s = %v, brute force %v", name, got.BurnRates[name], want)
			}
		}
	})
}

func storeQuery(check string, since time.Time) store.Query {
	return store.Query{Check: check, Since: since, Limit: 100000}
}

// A new installation's latency SLO has the budget of its whole window:
// the events its checks are expected to make (checks × regions × window ÷
// interval), not the few seen so far; a slow result in its first minutes
// burns nothing a ticket would notice. A spent budget says since when,
// never a time to come.
func TestLatencyBudgetIsTheWholeWindows(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 30, 0, time.UTC)
	const head = `regions: [{id: r1}, {id: r2}, {id: r3}]
probes:
  tokens: [{region: r1, token: latency-test-token-01}]
components:
  - id: svc
    checks:
      - {id: x, kind: http, interval: 30s, timeout: 5s, http: {url: "http://127.0.0.1:9/x"}}
slos:
`
	c := newLedger(t, head+"  - {id: fast, checks: [x], sli: latency, threshold: 250ms, target: 99, window: 7d}\n", func() time.Time { return now })
	start := now.Add(-10 * time.Minute).Truncate(time.Minute)
	healthyThroughout(c, []string{"r1", "r2", "r3"}, start.Add(-time.Minute), now)
	ctx := context.Background()
	var results []model.Result
	for at := start; at.Before(now.Truncate(time.Minute)); at = at.Add(30 * time.Second) {
		for _, region := range []string{"r1", "r2", "r3"} {
			d := 80 * time.Millisecond
			if at.Equal(start.Add(2*time.Minute)) && region != "r3" {
				d = 1250 * time.Millisecond // one slow moment, seen by two regions
			}
			results = append(results, model.Result{Check: "x", Region: region, Scheduled: at, Started: at, Probe: "p", DurationUS: d.Microseconds(), Outcome: model.OutcomeUp})
		}
	}
	if _, err := c.store.InsertResults(ctx, results); err != nil {
		t.Fatal(err)
	}
	if err := c.EvaluateSlices(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := c.SLOReport(ctx, c.Config().SLO("fast"), now)
	if err != nil {
		t.Fatal(err)
	}
	// 3 regions × 2 a minute × 7 days = 60,480 results expected; 1 % of them.
	if math.Abs(r.ErrorBudget.Total-604.8) > 1e-6 || r.Events.Bad != 2 {
		t.Fatalf("budget %+v of events %+v, want 604.8", r.ErrorBudget, r.Events)
	}
	for _, w := range []string{"6h", "1d", "3d"} {
		if r.BurnRates[w] >= 1 {
			t.Fatalf("burn over %s = %v after one slow moment: %v", w, r.BurnRates[w], r.BurnRates)
		}
	}
	if r.ExhaustedSince != nil {
		t.Fatalf("exhausted since %v", r.ExhaustedSince)
	}

	// A budget overspent: since when.
	c = newLedger(t, head+"  - {id: avail, checks: [x], target: 99.9, window: 1h}\n", func() time.Time { return now })
	healthyThroughout(c, []string{"r1", "r2", "r3"}, start.Add(-time.Minute), now)
	for i := range results {
		results[i].Outcome, results[i].ErrorClass = model.OutcomeDown, model.ErrTimeout
	}
	if _, err := c.store.InsertResults(ctx, results); err != nil {
		t.Fatal(err)
	}
	if err := c.EvaluateSlices(ctx); err != nil {
		t.Fatal(err)
	}
	r, err = c.SLOReport(ctx, c.Config().SLO("avail"), now)
	if err != nil {
		t.Fatal(err)
	}
	// 0.06 minutes of budget: spent by the end of the first bad minute.
	if r.ExhaustedAt != nil || r.ExhaustedInSeconds != nil || r.ExhaustedSince == nil || !r.ExhaustedSince.Equal(start.Add(time.Minute)) {
		t.Fatalf("a spent budget: at %v in %v since %v, want since %s", r.ExhaustedAt, r.ExhaustedInSeconds, r.ExhaustedSince, start.Add(time.Minute))
	}
}
