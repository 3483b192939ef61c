package controller

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/controller/sla"
	"github.com/nines-sre/nines/model"
)

// While the controller was away it heard no heartbeats; the probes kept
// checking, and vouch for their regions' health with their first
// heartbeat back. The minutes of the absence are then charged as the
// probes saw them, whichever came first: the results or the heartbeat.
func TestProbesVouchForTheirRegionsThroughAControllerOutage(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.clock.Add(30 * time.Second)
	for range 2 {
		h.clock.Add(time.Minute)
		h.round(func(string, string) model.Outcome { return model.OutcomeUp })
	}
	// The controller is away for four minutes: no heartbeat reaches it.
	// Its probes saw the API fail every minute (it answered 503), and
	// their networks work: the targets answered.
	away := h.clock.Now()
	var gap []model.Result
	for m := 1; m <= 4; m++ {
		for region := range tokens {
			r := h.result("api-health", region, 0, model.OutcomeDown)
			r.Scheduled = away.Add(time.Duration(m) * time.Minute)
			r.Started = r.Scheduled
			gap = append(gap, r)
		}
	}
	h.clock.Add(5 * time.Minute)
	// Back: the kept results arrive before any heartbeat (a transport of
	// their own), and are judged from regions nobody heard from.
	for region := range tokens {
		var rs []model.Result
		for _, r := range gap {
			if r.Region == region {
				rs = append(rs, r)
			}
		}
		h.ship(region, rs...)
	}
	if err := h.c.ledger.EvaluateSlices(ctx); err != nil {
		t.Fatal(err)
	}
	from, to := sla.MinuteOf(away.Add(time.Minute)), sla.MinuteOf(away.Add(4*time.Minute))+1
	counts := func() sla.Counts {
		t.Helper()
		c, err := h.c.store.Counts(ctx, []string{"api-health"}, from, to)
		if err != nil {
			t.Fatal(err)
		}
		return c["api-health"]
	}
	if c := counts(); c.Bad != 0 {
		t.Fatalf("before the probes vouched: %+v, want nothing charged", c)
	}
	// The first heartbeats back carry what each probe saw of its own
	// network meanwhile.
	for region := range tokens {
		hb := model.Heartbeat{Probe: "p-" + region, Region: region, StartedAt: h.clock.Now(), SentAt: h.clock.Now(),
			Attested: []model.Span{{From: away.Add(20 * time.Second), To: away.Add(4*time.Minute + 20*time.Second)}}}
		if resp, body := h.do("POST", "/api/v1/probes/heartbeat", region, hb); resp.StatusCode != 200 {
			t.Fatalf("heartbeat: %d %s", resp.StatusCode, body)
		}
	}
	if err := h.c.ledger.EvaluateSlices(ctx); err != nil {
		t.Fatal(err)
	}
	if c := counts(); c.Bad != 4 || c.Unknown != 0 {
		t.Fatalf("after the probes vouched: %+v, want the 4 minutes down", c)
	}
	// What a probe vouches for is checked like any other field.
	bad := model.Heartbeat{Probe: "p-eu-london", Region: "eu-london", StartedAt: h.clock.Now(), SentAt: h.clock.Now(),
		Attested: []model.Span{{From: h.clock.Now(), To: h.clock.Now().Add(-time.Minute)}}}
	if resp, body := h.do("POST", "/api/v1/probes/heartbeat", "eu-london", bad); resp.StatusCode != 400 || !strings.Contains(string(body), "attested[0]") {
		t.Fatalf("a span that ends before it starts: %d %s", resp.StatusCode, body)
	}
}
