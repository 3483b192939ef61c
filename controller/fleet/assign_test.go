package fleet

import (
	"fmt"
	"testing"
	"time"

	"github.com/nines-sre/nines/controller/store"
)

func TestRendezvousMovesOnlyTheLostShare(t *testing.T) {
	probes := []string{"p1", "p2", "p3"}
	moved, counts := 0, map[string]int{}
	for i := range 3000 {
		id := fmt.Sprintf("check-%d", i)
		before := Owner(id, probes)
		counts[before]++
		after := Owner(id, []string{"p1", "p2"})
		if before != "p3" && after != before {
			moved++
		}
	}
	if moved != 0 {
		t.Fatalf("%d checks moved between surviving probes", moved)
	}
	for p, n := range counts {
		if n < 800 || n > 1200 {
			t.Fatalf("uneven split: %s has %d of 3000", p, n)
		}
	}
}

// A region is healthy at a time within a span of heartbeats no further
// apart than the gap; a silence longer than the gap opens a new span, and
// a restarted probe's region counts from the probe's own start.
func TestHealthHistoryFollowsHeartbeats(t *testing.T) {
	g := NewRegistry()
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	gap := 30 * time.Second
	start := t0.Add(-10 * time.Second)
	for i := range 5 {
		g.Heartbeat(store.Probe{ID: "p1", Region: "r1", StartedAt: start, LastHeartbeat: t0.Add(time.Duration(i) * 10 * time.Second)}, gap)
	}
	// Silent from t0+40s to t0+5m, then back.
	g.Heartbeat(store.Probe{ID: "p1", Region: "r1", StartedAt: start, LastHeartbeat: t0.Add(5 * time.Minute)}, gap)
	for _, tc := range []struct {
		at   time.Duration
		want bool
	}{
		{-10 * time.Second, true}, // the probe's start, before its first heartbeat
		{-time.Minute, false},
		{20 * time.Second, true},
		{40*time.Second + gap, true},
		{2 * time.Minute, false},
		{5 * time.Minute, true},
	} {
		if got := g.HealthyAt("r1", t0.Add(tc.at), gap); got != tc.want {
			t.Errorf("healthy at t0%+v: %v, want %v", tc.at, got, tc.want)
		}
	}
	if g.HealthyAt("r2", t0, gap) {
		t.Error("a region never heard from is healthy")
	}
	g.PruneHealth(t0.Add(time.Minute))
	if g.HealthyAt("r1", t0.Add(20*time.Second), gap) || !g.HealthyAt("r1", t0.Add(5*time.Minute), gap) {
		t.Error("pruning forgot the wrong span")
	}
	if live := g.Live("r1", t0.Add(5*time.Minute+10*time.Second), 15*time.Second); len(live) != 1 || live[0] != "p1" {
		t.Errorf("live %v, want [p1]", live)
	}
	if dropped := g.DropSilent(t0.Add(6 * time.Minute)); len(dropped) != 1 || g.Count("r1") != 0 {
		t.Errorf("dropped %v, %d left", dropped, g.Count("r1"))
	}
}
