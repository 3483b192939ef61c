package postgres

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nines-sre/nines/controller/store/postgres/pgtest"
)

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s", what, d)
	return 0
}

func TestOneLeaderAndFailover(t *testing.T) {
	dsn := pgtest.Schema(t, pgtest.DSN(t))
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func() *Store {
		s, err := Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open().NewElector("a", time.Second, log), open().NewElector("b", time.Second, log)
	var aLeads, bLeads atomic.Bool
	actx, stopA := context.WithCancel(ctx)
	doneA := make(chan struct{})
	go func() { a.Run(actx, aLeads.Store); close(doneA) }()
	waitFor(t, 5*time.Second, "a leads", aLeads.Load)
	bctx, stopB := context.WithCancel(ctx)
	defer stopB()
	go b.Run(bctx, bLeads.Store)
	time.Sleep(1500 * time.Millisecond)
	if !a.Leading() || b.Leading() {
		t.Fatalf("a leading %v, b leading %v: want a only", a.Leading(), b.Leading())
	}
	stopA()
	<-doneA
	if aLeads.Load() {
		t.Fatal("a still reports leading after stopping")
	}
	took := waitFor(t, 5*time.Second, "b takes over", bLeads.Load)
	t.Logf("failover after a clean stop: %s", took)
	if holder, valid, err := open().Leader(ctx); err != nil || holder != "b" || !valid {
		t.Fatalf("lease: %q %v %v", holder, valid, err)
	}
}

func TestHungLeaderIsEvicted(t *testing.T) {
	dsn := pgtest.Schema(t, pgtest.DSN(t))
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sa, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Close()
	sb, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	// a takes the lock and then hangs: it never renews.
	a := sa.NewElector("a", time.Second, log)
	if err := a.campaign(ctx); err != nil || !a.Leading() {
		t.Fatalf("a campaign: %v", err)
	}
	b := sb.NewElector("b", time.Second, log)
	var bLeads atomic.Bool
	bctx, stop := context.WithCancel(ctx)
	defer stop()
	go b.Run(bctx, bLeads.Store)
	took := waitFor(t, 6*time.Second, "b takes over from a hung leader", bLeads.Load)
	t.Logf("failover from a hung leader with a 1s lease: %s", took)
	// a, waking up, knows at once that it no longer leads, before its
	// elector runs: nothing it would send goes out.
	if a.Leading() {
		t.Fatal("a hung leader still says it leads after its lease ran out")
	}
	// Its elector then finds it can no longer renew and steps down.
	if err := a.keep(ctx); err == nil {
		t.Fatal("a hung leader renewed a lease it lost")
	}
	a.stepDown("lease lost")
}
