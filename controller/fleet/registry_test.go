package fleet

import (
	"testing"
	"time"

	"github.com/nines-sre/nines/controller/store"
)

// The health signature moves when a region turns unhealthy or healthy,
// and only then: a second probe in a healthy region leaves it as it is.
func TestHealthSignature(t *testing.T) {
	g := NewRegistry()
	t0 := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	gap := 30 * time.Second
	g.Heartbeat(store.Probe{ID: "a1", Region: "eu-london", StartedAt: t0, LastHeartbeat: t0}, gap)
	g.Heartbeat(store.Probe{ID: "b1", Region: "ap-tokyo", StartedAt: t0, LastHeartbeat: t0}, gap)
	both := g.HealthSignature(t0, gap)
	g.Heartbeat(store.Probe{ID: "a2", Region: "eu-london", StartedAt: t0, LastHeartbeat: t0}, gap)
	if got := g.HealthSignature(t0, gap); got != both {
		t.Fatalf("a second probe in a healthy region moved the signature")
	}
	g.Heartbeat(store.Probe{ID: "b1", Region: "ap-tokyo", StartedAt: t0, LastHeartbeat: t0.Add(20 * time.Second)}, gap)
	later := t0.Add(45 * time.Second) // eu-london silent for 45 s, ap-tokyo for 25 s
	one := g.HealthSignature(later, gap)
	if one == both {
		t.Fatalf("eu-london turning unhealthy left the signature as it was")
	}
	g.Heartbeat(store.Probe{ID: "a1", Region: "eu-london", StartedAt: t0, LastHeartbeat: later}, gap)
	if got := g.HealthSignature(later, gap); got != both {
		t.Fatalf("eu-london healthy again: the signature is not the one of both healthy")
	}
}
