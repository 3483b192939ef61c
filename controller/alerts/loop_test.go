package alerts

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nines-sre/nines/alerting"
	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/fleet"
	"github.com/nines-sre/nines/controller/live"
	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/controller/store/sqlite/sqlitetest"
	"github.com/nines-sre/nines/internal/testwait"
	"github.com/nines-sre/nines/model"
)

// The evaluation loop does not wait for its tick: a verdict that may have
// changed (Poke) is evaluated at once, and a group waiting out its
// group_wait notifies when the wait ends.
func TestLoopRunsWhenPokedAndWhenAGroupIsDue(t *testing.T) {
	cfg, err := config.Parse("test.yaml", []byte(twoComponents+`alerting:
  group_wait: 300ms
  notifiers: [{id: hook, webhook: {url: "http://127.0.0.1:9/hook"}}]
  policies: [{id: page, levels: [{targets: [hook]}]}]
  rules: [{id: down, kind: check_down, policy: page}]
`))
	if err != nil {
		t.Fatal(err)
	}
	view := live.View{Latest: live.NewLatest(), Probes: fleet.NewRegistry()}
	st := sqlitetest.Open(t)
	a := New(Options{Store: st, Config: func() *config.Config { return cfg }, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Live: view})
	ctx, cancel := context.WithCancel(context.Background())
	var runs atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		a.Loop(ctx, time.Hour, func(ctx context.Context) error { runs.Add(1); return a.Evaluate(ctx) }, func(err error) { t.Error(err) }, nil)
	})
	t.Cleanup(func() { cancel(); wg.Wait() })

	a.Poke()
	testwait.Eventually(t, 10*time.Second, "an evaluation after a poke", func() error {
		if runs.Load() == 0 {
			return errNotYet
		}
		return nil
	})
	// api-health down everywhere: the poke fires its alert, which opens a
	// group that waits 300 ms; the loop runs again when the wait ends.
	now := time.Now()
	for _, r := range []string{"eu-london", "eu-frankfurt", "ap-tokyo"} {
		view.Probes.Heartbeat(store.Probe{ID: "p-" + r, Region: r, StartedAt: now.Add(-10 * time.Second), LastHeartbeat: now}, cfg.UnhealthyAfter())
		view.Latest.Offer(model.Result{Check: "api-health", Region: r, Scheduled: now, Started: now, Outcome: model.OutcomeDown})
	}
	a.Poke()
	testwait.Eventually(t, 10*time.Second, "the group notifying once its wait ended, with no tick", func() error {
		g, err := st.Alert(ctx, "group:page")
		if err != nil {
			return err
		}
		if g == nil || g.State != alerting.StateFiring {
			return errNotYet
		}
		return nil
	})
}

var errNotYet = errors.New("not yet")
