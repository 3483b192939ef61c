package controller

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/controller/sla"
	"github.com/nines-sre/nines/model"
)

// sevenRegionsConfig is seven regions checking one target every 60 s,
// paging through the PagerDuty stand-in at pd.
func sevenRegionsConfig(pd, _ string) string {
	var b strings.Builder
	b.WriteString("regions:\n")
	for _, r := range model.DefaultRegions {
		fmt.Fprintf(&b, "  - id: %s\n", r)
	}
	b.WriteString("probes:\n  heartbeat_interval: 10s\n  rate_limit: 100000\n  tokens:\n")
	for _, r := range model.DefaultRegions {
		fmt.Fprintf(&b, "    - {region: %s, token: token-of-%s-0123456789}\n", r, r)
	}
	fmt.Fprintf(&b, `defaults: {interval: 1m, timeout: 5s}
components:
  - id: api
    checks:
      - {id: api-health, kind: http, http: {url: "http://127.0.0.1:9/healthz"}}
alerting:
  notifiers: [{id: pd, pagerduty: {routing_key: PRIMARYPRIMARYPRIMARYPRIMARY0001, events_url: %q}}]
  policies: [{id: page, levels: [{delay: 0s, targets: [pd]}]}]
  rules: [{id: down, kind: check_down, policy: page, resolve_after: 2m}]
`, pd)
	return b.String()
}

// TestShortGlobalOutagesArePagedAndCharged: at 60 s checks from seven
// regions staggered by 60/7 s, ten global outages of 20 to 60 s at random
// offsets: each is paged, and each is charged at least one down minute.
func TestShortGlobalOutagesArePagedAndCharged(t *testing.T) {
	h := newAlertHarnessOf(t, sevenRegionsConfig)
	tok := func(region string) string { return "token-of-" + region + "-0123456789" }
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(12, 18))
	stagger := time.Minute / 7
	step := time.Second
	start := h.clock.Now()
	type outage struct{ from, to time.Time }
	var outages []outage
	at := start.Add(3 * time.Minute)
	for range 10 {
		from := at.Add(time.Duration(rng.IntN(60_000)) * time.Millisecond).Truncate(step)
		d := time.Duration(20+rng.IntN(41)) * time.Second
		outages = append(outages, outage{from, from.Add(d)})
		at = from.Add(d).Add(6 * time.Minute) // recovered and resolved in between
	}
	end := at
	down := func(t time.Time) bool {
		for _, o := range outages {
			if !t.Before(o.from) && t.Before(o.to) {
				return true
			}
		}
		return false
	}
	for now := start; now.Before(end); now = now.Add(step) {
		h.clock.mu.Lock()
		h.clock.t = now
		h.clock.mu.Unlock()
		for i, region := range model.DefaultRegions {
			if now.Sub(start)%(10*time.Second) == 0 {
				resp, body := h.do("POST", "/api/v1/probes/heartbeat", "", model.Heartbeat{Probe: "p-" + region, Region: region, StartedAt: start, SentAt: now},
					"Authorization", "Bearer "+tok(region))
				if resp.StatusCode != 200 {
					t.Fatalf("heartbeat: %d %s", resp.StatusCode, body)
				}
			}
			if (now.Sub(start)-time.Duration(i)*stagger)%time.Minute >= step || now.Sub(start) < time.Duration(i)*stagger {
				continue
			}
			r := model.Result{Check: "api-health", Region: region, Scheduled: now, Started: now, Probe: "p-" + region, DurationUS: 1200, Outcome: model.OutcomeUp, HTTPStatus: 200}
			if down(now) {
				r.Outcome, r.ErrorClass, r.HTTPStatus = model.OutcomeDown, model.ErrConnect, 0
			}
			if resp, body := h.do("POST", "/api/v1/results", "", model.ResultBatch{Probe: "p-" + region, Results: []model.Result{r}},
				"Authorization", "Bearer "+tok(region)); resp.StatusCode != 200 {
				t.Fatalf("ship: %d %s", resp.StatusCode, body)
			}
		}
		if now.Sub(start)%(2*time.Second) == 0 {
			if err := h.c.ledger.EvaluateSlices(ctx); err != nil {
				t.Fatal(err)
			}
			h.tick()
		}
	}
	triggers := 0
	for _, ev := range h.pd.Events() {
		if ev.Action == "trigger" {
			triggers++
		}
	}
	var report []string
	charged := 0
	for i, o := range outages {
		n := 0
		err := h.c.store.ServiceSlices(ctx, []string{"api-health"}, sla.MinuteOf(o.from)-1, sla.MinuteOf(o.to)+4, func(_ sla.Minute, s sla.Slice) {
			if s == sla.SliceDown {
				n++
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		report = append(report, fmt.Sprintf("outage %d: %s for %s, %d down minutes", i+1, o.from.Format(time.TimeOnly), o.to.Sub(o.from), n))
		if n >= 1 {
			charged++
		}
	}
	t.Log(strings.Join(report, "\n"))
	if triggers != len(outages) || charged != len(outages) {
		t.Fatalf("%d pages and %d charged of %d outages:\n%s", triggers, charged, len(outages), strings.Join(report, "\n"))
	}
}
