package controller

import (
	"context"
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
	// 90 days reach past the two weeks raw results are kept.
	if p90, _ := h.c.pages.CheckPage(ctx, "api-health", dashboard.CheckQuery{Range: "90d"}); p90.Kept != "14 days" || len(p90.Latency) != 3 {
		t.Fatalf("90d: kept %q, %d regions", p90.Kept, len(p90.Latency))
	}
}
