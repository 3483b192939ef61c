package alerts

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/fleet"
	"github.com/nines-sre/nines/controller/live"
	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/controller/store/sqlite/sqlitetest"
	"github.com/nines-sre/nines/model"
)

const twoComponents = `regions: [{id: eu-london}, {id: eu-frankfurt}, {id: ap-tokyo}]
probes:
  heartbeat_interval: 10s
  tokens: [{region: eu-london, token: london-token-0123456789}]
defaults: {interval: 1m, timeout: 5s}
components:
  - id: api
    checks:
      - {id: api-health, kind: http, http: {url: "http://127.0.0.1:9/healthz"}}
  - id: web
    checks:
      - {id: web-home, kind: http, http: {url: "http://127.0.0.1:9/"}}
`

// The alert rules see a check's newer results at the next evaluation;
// checks with nothing new keep their state until a full pass, which comes
// within fullSnapshotEvery and carries what changes with time alone.
func TestAlertSnapshotJudgesWhatChanged(t *testing.T) {
	cfg, err := config.Parse("test.yaml", []byte(twoComponents))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	clock := func() time.Time { return now }
	view := live.View{Latest: live.NewLatest(), Probes: fleet.NewRegistry()}
	a := New(Options{Store: sqlitetest.Open(t), Config: func() *config.Config { return cfg }, Now: clock,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Live: view})
	ctx := context.Background()
	regions := []string{"eu-london", "eu-frankfurt", "ap-tokyo"}
	heartbeat := func(region string) {
		view.Probes.Heartbeat(store.Probe{ID: "p-" + region, Region: region, StartedAt: now.Add(-10 * time.Second), LastHeartbeat: now}, cfg.UnhealthyAfter())
	}
	offer := func(check, region string, ago time.Duration, o model.Outcome) {
		at := now.Add(-ago)
		view.Latest.Offer(model.Result{Check: check, Region: region, Scheduled: at, Started: at, Outcome: o})
	}
	for _, r := range regions {
		heartbeat(r)
		offer("api-health", r, time.Second, model.OutcomeUp)
		offer("web-home", r, time.Second, model.OutcomeUp)
	}
	s := a.Snapshot(ctx)
	if s.Checks["api-health"].Status != model.StatusUp || s.Checks["web-home"].Status != model.StatusUp || a.Judged() != 2 {
		t.Fatalf("first snapshot: %+v, %d judged", s.Checks, a.Judged())
	}

	now = now.Add(time.Second)
	for _, r := range regions[:2] {
		offer("api-health", r, 0, model.OutcomeDown)
	}
	s = a.Snapshot(ctx)
	if got := s.Checks["api-health"]; got.Status != model.StatusDown || len(got.Failing) != 2 || !got.LastDown.Equal(now) {
		t.Fatalf("api-health after two regions failed: %+v", got)
	}
	if s.Checks["web-home"].Status != model.StatusUp || a.Judged() != 1 {
		t.Fatalf("web-home had nothing new: %+v, %d judged, want 1", s.Checks["web-home"], a.Judged())
	}

	// Nothing new: a down check's last down time still moves on.
	now = now.Add(time.Second)
	s = a.Snapshot(ctx)
	if got := s.Checks["api-health"]; got.Status != model.StatusDown || !got.LastDown.Equal(now) || !got.LastNotUp.Equal(now) || !got.LastUp.Before(now.Add(-time.Second)) || a.Judged() != 0 {
		t.Fatalf("nothing new: %+v, %d judged", got, a.Judged())
	}
	if got := s.Checks["web-home"]; !got.LastUp.Equal(now) || !got.LastNotUp.IsZero() {
		t.Fatalf("web-home, up throughout: last up %s, last not up %s", got.LastUp, got.LastNotUp)
	}

	// Time alone: past the results' freshness (the regions still heard
	// from), a full pass finds no region speaking.
	for left := cfg.Check("web-home").Fresh() + time.Second; left > 0; left -= 20 * time.Second {
		now = now.Add(20 * time.Second)
		for _, r := range regions {
			heartbeat(r)
		}
	}
	s = a.Snapshot(ctx)
	if got := s.Checks["web-home"]; got.Status != model.StatusUnknown || a.Judged() != 2 {
		t.Fatalf("web-home past its results' freshness: %+v, %d judged", got, a.Judged())
	}
}
