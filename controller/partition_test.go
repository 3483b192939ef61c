package controller

import (
	"context"
	"testing"
	"time"

	"github.com/nines-sre/nines/controller/sla"
	"github.com/nines-sre/nines/model"
)

// TestCutOffRegionsNeverPageNorChargeDowntime: two of three regions lose
// their network for 90 s while the target is healthy. Their probes keep
// checking, spool the failures and ship them after the heal; one probe
// marks them as its own (probe_isolated), the other cannot tell, but its
// region was not heard from when they were scheduled. Nothing pages, no
// minute is down or degraded, and the status API shows a probe problem.
func TestCutOffRegionsNeverPageNorChargeDowntime(t *testing.T) {
	h := newAlertHarness(t)
	ctx := context.Background()
	offsets := map[string]time.Duration{"eu-london": 0, "eu-frankfurt": 20 * time.Second, "ap-tokyo": 40 * time.Second}
	begin := h.clock.Now()
	cutFrom, cutTo := begin.Add(3*time.Minute+5*time.Second), begin.Add(4*time.Minute+35*time.Second)
	spool := map[string][]model.Result{}
	for step := 0; step < 8*6; step++ {
		h.clock.Add(10 * time.Second)
		now := h.clock.Now()
		for region, off := range offsets {
			cut := region != "eu-london" && !now.Before(cutFrom) && now.Before(cutTo)
			if !cut {
				h.heartbeat(region)
				if len(spool[region]) > 0 { // healed: the spool backfills
					h.ship(region, spool[region]...)
					spool[region] = nil
				}
			}
			if now.Sub(begin)%time.Minute != off {
				continue
			}
			r := h.result("api-health", region, 0, model.OutcomeUp)
			if cut {
				r.Outcome, r.ErrorClass, r.HTTPStatus, r.Message = model.OutcomeDown, model.ErrConnect, 0, "connect: network is unreachable"
				r.ProbeIsolated = region == "eu-frankfurt"
				spool[region] = append(spool[region], r)
				continue
			}
			h.ship(region, r)
		}
		if err := h.c.ledger.EvaluateSlices(ctx); err != nil {
			t.Fatal(err)
		}
		h.tick()
		if st := h.c.Status(); st.Components[0].Checks[0].Status == model.StatusDown {
			t.Fatalf("%s: api-health down while only probes were cut off", now.Format(time.TimeOnly))
		}
		if now.Equal(cutTo.Add(5 * time.Second)) {
			fr := h.c.Status().Components[0].Checks[0].Regions["eu-frankfurt"]
			if !fr.ProbeProblem || fr.Status != model.StatusUnknown {
				t.Fatalf("after the heal, eu-frankfurt's newest result (a spooled failure) shows %+v, want a probe problem", fr)
			}
		}
	}
	if ev := h.pd.Events(); len(ev) != 0 {
		t.Fatalf("cut-off probes paged: %+v", ev)
	}
	for _, m := range h.hook.messages() {
		for _, k := range memberKeys(m) {
			if k != "silent:eu-frankfurt" && k != "silent:ap-tokyo" && k != "silent:most-regions" {
				t.Fatalf("cut-off probes raised %s (%s)", k, m.Summary)
			}
		}
	}
	var bad []string
	err := h.c.store.ServiceSlices(ctx, []string{"api-health"}, sla.MinuteOf(begin), sla.MinuteOf(h.clock.Now())+1, func(m sla.Minute, s sla.Slice) {
		if s == sla.SliceDown || s == sla.SliceDegraded {
			bad = append(bad, m.Time().Format(time.TimeOnly)+" "+string(s.Status()))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Fatalf("minutes charged to the target: %v", bad)
	}
}
