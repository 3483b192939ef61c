package controller

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/dashboard"
	"github.com/nines-sre/nines/model"
)

// The SRE check page over a range: uptime per region, latency points with
// the failed runs counted in them (one point already draws), and the raw
// results a page at a time.
func TestCheckPageRanges(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	for r := range tokens {
		h.heartbeat(r)
	}
	// Forty minutes of results: eu-london fails one run in four.
	for m := 40; m > 0; m-- {
		for r := range tokens {
			o := model.OutcomeUp
			if r == "eu-london" && m%4 == 0 {
				o = model.OutcomeDown
			}
			h.ship(r, h.result("api-health", r, time.Duration(m)*time.Minute, o))
		}
	}
	p, err := h.c.pages.CheckPage(ctx, "api-health", dashboard.CheckQuery{Range: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Range != "1h" || p.Kept != "" {
		t.Fatalf("range %q kept %q", p.Range, p.Kept)
	}
	uptime := map[string]float64{}
	for _, u := range p.Uptime {
		if u.Uptime != nil {
			uptime[u.Region] = *u.Uptime
		}
	}
	if uptime["eu-london"] != 0.75 || uptime["ap-tokyo"] != 1 || len(p.Uptime) != 3 {
		t.Fatalf("uptime by region: %+v", uptime)
	}
	failed := 0
	for _, rl := range p.Latency {
		for _, pt := range rl.Points {
			failed += pt.Failed
			if pt.Up > 0 && pt.P50 <= 0 {
				t.Fatalf("a point without its latency: %+v", pt)
			}
		}
	}
	if failed != 10 {
		t.Fatalf("%d failed runs in the chart, want 10", failed)
	}
	// 120 results: a page of 100 and an older page of 20, no overlap.
	if len(p.Results) != 100 || p.Older == "" {
		t.Fatalf("first page: %d results, older %q", len(p.Results), p.Older)
	}
	older, err := h.c.pages.CheckPage(ctx, "api-health", dashboard.CheckQuery{Range: "1h", Before: p.Older})
	if err != nil || len(older.Results) != 20 || older.Older != "" || !older.Results[0].At.Before(p.Results[99].At.Add(time.Second)) {
		t.Fatalf("older page: %d results, older %q, %v", len(older.Results), older.Older, err)
	}
	// 90 days reach past the two weeks raw results are kept; forty
	// minutes of data are drawn as forty minutes, not squashed into one
	// point of a day.
	p90, _ := h.c.pages.CheckPage(ctx, "api-health", dashboard.CheckQuery{Range: "90d"})
	if p90.Kept != "14 days" || len(p90.Latency) != 3 || len(p90.Latency[0].Points) != 40 {
		t.Fatalf("90d: kept %q, %d regions, %d points", p90.Kept, len(p90.Latency), len(p90.Latency[0].Points))
	}
}

// A failure whose confirmation round passed is shown, marked as not
// confirmed, beside the on-demand runs that cleared it.
func TestCheckPageMarksBlips(t *testing.T) {
	h := newHarness(t)
	for r := range tokens {
		h.heartbeat(r)
	}
	ask := func(r model.Result) model.Result { r.OnDemand = true; return r }
	h.ship("eu-london", h.result("api-health", "eu-london", 3*time.Minute, model.OutcomeUp), h.result("api-health", "eu-london", 2*time.Minute, model.OutcomeDown),
		ask(h.result("api-health", "eu-london", 2*time.Minute-time.Second, model.OutcomeUp)),
		h.result("api-health", "eu-london", time.Minute, model.OutcomeDown), h.result("api-health", "eu-london", 59*time.Second, model.OutcomeDown))
	h.ship("ap-tokyo", ask(h.result("api-health", "ap-tokyo", 2*time.Minute-time.Second, model.OutcomeUp)))
	p, err := h.c.pages.CheckPage(context.Background(), "api-health", dashboard.CheckQuery{Range: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	var marks []string
	for _, r := range p.Results {
		marks = append(marks, fmt.Sprintf("%s %s on_demand=%v not_confirmed=%v", r.Region, r.Outcome, r.OnDemand, r.NotConfirmed))
	}
	want := []string{
		"eu-london down on_demand=false not_confirmed=false", // no round re-ran these: they count
		"eu-london down on_demand=false not_confirmed=false",
		"ap-tokyo up on_demand=true not_confirmed=false",
		"eu-london up on_demand=true not_confirmed=false",
		"eu-london down on_demand=false not_confirmed=true",
		"eu-london up on_demand=false not_confirmed=false",
	}
	if strings.Join(marks, "\n") != strings.Join(want, "\n") {
		t.Fatalf("results:\n%s\nwant:\n%s", strings.Join(marks, "\n"), strings.Join(want, "\n"))
	}
}
