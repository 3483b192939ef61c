package ledger

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/nines-sre/nines/controller/sla"
	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/model"
)

// healthyThroughout records that every region's probes were heard from
// during [from, to].
func healthyThroughout(c *harness, regions []string, from, to time.Time) {
	var spans []store.HealthSpan
	for _, r := range regions {
		spans = append(spans, store.HealthSpan{Region: r, From: from, To: to})
	}
	c.probes.LoadHealth(spans)
}

// TestSLOFiguresMatchBruteForce generates random result histories (gaps,
// failures, duplicates, late batches, maintenance windows, several checks
// per SLO) and compares the controller's SLO figures with a direct
// computation from the definitions.
func TestSLOFiguresMatchBruteForce(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC).Add(time.Duration(rapid.IntRange(0, 59).Draw(rt, "now-seconds")) * time.Second)
		regions := []string{"r1", "r2", "r3"}
		quorum := rapid.IntRange(1, 3).Draw(rt, "quorum")
		intervals := map[string]time.Duration{}
		for _, ch := range []string{"x", "y"} {
			intervals[ch] = []time.Duration{30 * time.Second, time.Minute, 3 * time.Minute}[rapid.IntRange(0, 2).Draw(rt, "interval-"+ch)]
		}
		window := []string{"1h", "2h"}[rapid.IntRange(0, 1).Draw(rt, "window")]
		target := []float64{90, 99, 99.5, 99.9}[rapid.IntRange(0, 3).Draw(rt, "target")]
		sloChecks := [][]string{{"x"}, {"y"}, {"x", "y"}}[rapid.IntRange(0, 2).Draw(rt, "slo-checks")]
		history := 150 * time.Minute
		start := now.Add(-history).Truncate(time.Minute)

		var maintStart, maintEnd time.Time
		maintCheck := ""
		if rapid.Bool().Draw(rt, "maintenance") {
			maintCheck = []string{"x", "y"}[rapid.IntRange(0, 1).Draw(rt, "maint-check")]
			maintStart = start.Add(time.Duration(rapid.IntRange(0, 140).Draw(rt, "maint-start")) * time.Minute).Add(time.Duration(rapid.IntRange(0, 59).Draw(rt, "maint-sec")) * time.Second)
			maintEnd = maintStart.Add(time.Duration(rapid.IntRange(1, 40).Draw(rt, "maint-minutes")) * time.Minute)
		}

		// The history: one slot per interval per check and region, each
		// present or missing, up or down; some results are sent twice.
		// Per-slot choices come from a drawn seed, to keep failure reports short.
		rng := rand.New(rand.NewPCG(rapid.Uint64().Draw(rt, "seed"), 1))
		var results []model.Result
		for _, ch := range []string{"x", "y"} {
			iv := intervals[ch]
			for _, region := range regions {
				offset := time.Duration(rapid.IntRange(0, int(iv/time.Second)-1).Draw(rt, "offset-"+ch+region)) * time.Second
				regionDown := rapid.Float64Range(0, 0.6).Draw(rt, "down-rate-"+ch+region)
				missing := rapid.Float64Range(0, 0.5).Draw(rt, "missing-rate-"+ch+region)
				for at := start.Add(offset); at.Before(now); at = at.Add(iv) {
					if rng.Float64() < missing {
						continue
					}
					r := model.Result{Check: ch, Region: region, Scheduled: at, Started: at, Probe: "p-" + region, Outcome: model.OutcomeUp}
					if rng.Float64() < regionDown {
						r.Outcome, r.ErrorClass = model.OutcomeDown, model.ErrStatus
					}
					results = append(results, r)
				}
			}
		}
		perm := append([]model.Result(nil), results...)
		for i := rapid.IntRange(0, 20).Draw(rt, "duplicates"); i > 0 && len(results) > 0; i-- {
			perm = append(perm, results[rng.IntN(len(results))])
		}
		rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })

		var cfg strings.Builder
		fmt.Fprintf(&cfg, "regions: [{id: r1}, {id: r2}, {id: r3}]\nquorum: %d\nprobes:\n  tokens: [{region: r1, token: property-token-000001}]\n", quorum)
		fmt.Fprintf(&cfg, "components:\n  - id: svc\n    checks:\n")
		for _, ch := range []string{"x", "y"} {
			fmt.Fprintf(&cfg, "      - {id: %s, kind: http, interval: %s, timeout: 5s, http: {url: \"http://127.0.0.1:9/%s\"}}\n", ch, intervals[ch], ch)
		}
		fmt.Fprintf(&cfg, "slos:\n  - {id: s, checks: [%s], target: %v, window: %s}\n", strings.Join(sloChecks, ", "), target, window)
		if maintCheck != "" {
			fmt.Fprintf(&cfg, "maintenance:\n  - {id: m, checks: [%s], start: %s, end: %s}\n", maintCheck, maintStart.Format(time.RFC3339), maintEnd.Format(time.RFC3339))
		}
		c := newLedger(t, cfg.String(), func() time.Time { return now })
		healthyThroughout(c, regions, start.Add(-time.Hour), now)
		ctx := context.Background()
		// Late results: the history arrives in several batches, with the
		// slices evaluated in between.
		for len(perm) > 0 {
			n := min(len(perm), rapid.IntRange(1, 200).Draw(rt, "batch"))
			if _, err := c.store.InsertResults(ctx, perm[:n]); err != nil {
				rt.Fatal(err)
			}
			perm = perm[n:]
			if rapid.Bool().Draw(rt, "evaluate-between") {
				if err := c.EvaluateSlices(ctx); err != nil {
					rt.Fatal(err)
				}
			}
		}
		if err := c.EvaluateSlices(ctx); err != nil {
			rt.Fatal(err)
		}
		got, err := c.SLOReport(ctx, c.Config().SLO("s"), now)
		if err != nil {
			rt.Fatal(err)
		}

		// Brute force, from the definitions.
		windowDur := map[string]time.Duration{"1h": time.Hour, "2h": 2 * time.Hour}[window]
		to := now.Truncate(time.Minute)
		from := to.Add(-windowDur)
		burnWindows := map[string]time.Duration{"5m": 5 * time.Minute, "30m": 30 * time.Minute, "1h": time.Hour, "2h": 2 * time.Hour,
			"6h": 6 * time.Hour, "1d": 24 * time.Hour, "3d": 72 * time.Hour}
		type tally struct{ good, bad, maint int }
		var all tally
		burn := map[string]*tally{}
		for w := range burnWindows {
			burn[w] = &tally{}
		}
		// The live verdict by definition at t: each region's newest result
		// scheduled at or before t, if younger than staleAfter, counts;
		// down when quorum regions fail, unknown when fewer than quorum
		// report, good otherwise.
		byRegion := map[string][]model.Result{} // check/region → results in schedule order
		for _, r := range results {
			byRegion[r.Check+"/"+r.Region] = append(byRegion[r.Check+"/"+r.Region], r)
		}
		liveAt := func(ch string, t time.Time) model.Status {
			fresh := 2*intervals[ch] + 10*time.Second
			reporting, failing := 0, 0
			for _, region := range regions {
				rs := byRegion[ch+"/"+region]
				i := sort.Search(len(rs), func(i int) bool { return rs[i].Scheduled.After(t) }) - 1
				if i < 0 {
					continue
				}
				if r := rs[i]; t.Sub(r.Scheduled) < fresh {
					reporting++
					if r.Outcome == model.OutcomeDown {
						failing++
					}
				}
			}
			switch {
			case failing >= quorum:
				return model.StatusDown
			case reporting < quorum:
				return model.StatusUnknown
			}
			return model.StatusUp
		}
		// The live verdict second by second (sampled in the middle of every
		// second: results are scheduled on whole seconds), and from it the
		// charged minutes: those whose middle was down; a run of down
		// seconds that holds no minute's middle is charged to the minute
		// holding most of it, the earlier on a tie.
		type perCheck struct {
			known   map[time.Time]bool // minute → anything known in it
			charged map[time.Time]bool
		}
		byCheck := map[string]perCheck{}
		for _, ch := range []string{"x", "y"} {
			pc := perCheck{known: map[time.Time]bool{}, charged: map[time.Time]bool{}}
			first, last := start.Add(-5*time.Minute), now.Add(2*time.Minute)
			var run []time.Time
			closeRun := func() {
				if len(run) == 0 {
					return
				}
				mids := false
				held := map[time.Time]int{}
				for _, sec := range run {
					m := sec.Truncate(time.Minute)
					held[m]++
					if sec.Sub(m) == 30*time.Second {
						pc.charged[m], mids = true, true
					}
				}
				if !mids {
					var best time.Time
					for m, n := range held {
						if best.IsZero() || n > held[best] || (n == held[best] && m.Before(best)) {
							best = m
						}
					}
					pc.charged[best] = true
				}
				run = run[:0]
			}
			for sec := first; sec.Before(last); sec = sec.Add(time.Second) {
				st := liveAt(ch, sec.Add(500*time.Millisecond))
				if st != model.StatusUnknown {
					pc.known[sec.Truncate(time.Minute)] = true
				}
				if st == model.StatusDown {
					run = append(run, sec)
				} else {
					closeRun()
				}
			}
			closeRun()
			byCheck[ch] = pc
		}
		minuteOf := func(ch string, m time.Time) sla.Slice {
			switch {
			case byCheck[ch].charged[m]:
				return sla.SliceDown
			case byCheck[ch].known[m]:
				return sla.SliceUp
			}
			return sla.SliceUnknown
		}
		// Before the history every minute is unknown: start there.
		for m := start.Add(-5 * time.Minute); m.Before(to); m = m.Add(time.Minute) {
			// per check: "down", "good", "maint" or "unknown"
			anyDown, anyGood, anyMaint := false, false, false
			for _, ch := range sloChecks {
				if ch == maintCheck && !m.Before(maintStart) && m.Before(maintEnd) {
					anyMaint = true
					continue
				}
				switch minuteOf(ch, m) {
				case sla.SliceDown:
					anyDown = true
				case sla.SliceUp, sla.SliceDegraded:
					anyGood = true
				}
			}
			add := func(t *tally) {
				switch {
				case anyDown:
					t.bad++
				case anyGood:
					t.good++
				case anyMaint:
					t.maint++
				}
			}
			if !m.Before(from) {
				add(&all)
			}
			for w, d := range burnWindows {
				if !m.Before(to.Add(-d)) {
					add(burn[w])
				}
			}
		}
		ratio := target / 100
		valid := all.good + all.bad
		if got.Minutes.Good != all.good || got.Minutes.Bad != all.bad || got.Minutes.Maintenance != all.maint ||
			got.Minutes.Unknown != int(windowDur/time.Minute)-valid-all.maint {
			rt.Fatalf("minutes %+v, brute force good %d bad %d maintenance %d", got.Minutes, all.good, all.bad, all.maint)
		}
		near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
		if total := (1 - ratio) * float64(windowDur/time.Minute); !near(got.ErrorBudget.Total, total) ||
			!near(got.ErrorBudget.Remaining, total-float64(all.bad)) {
			rt.Fatalf("budget %+v, brute force total %v consumed %d", got.ErrorBudget, total, all.bad)
		}
		for w, tl := range burn {
			want := 0.0
			if v := tl.good + tl.bad; v > 0 {
				want = float64(tl.bad) / float64(v) / (1 - ratio)
			}
			if !near(got.BurnRates[w], want) {
				rt.Fatalf("burn %s = %v, brute force %v", w, got.BurnRates[w], want)
			}
		}
		if valid > 0 && !near(*got.Value, float64(all.good)/float64(valid)) {
			rt.Fatalf("SLI %v, brute force %v", *got.Value, float64(all.good)/float64(valid))
		}
	})
}
