package probe

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nines-sre/nines/model"
)

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// httpPing asks url for any answer, as the probe asks its controller.
func httpPing(url string, calls *atomic.Int32) func(context.Context) error {
	return func(ctx context.Context) error {
		calls.Add(1)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
}

func failure(started time.Time, class model.ErrorClass) *model.Result {
	return &model.Result{Started: started, DurationUS: 1000, Outcome: model.OutcomeDown, ErrorClass: class}
}

func TestAFailureIsTheProbesOwnOnlyWhenItReachedNothing(t *testing.T) {
	ctrl := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	defer ctrl.Close()
	down := "http://" + closedAddr(t) + "/healthz"
	clock := ticking(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	now := clock()
	ctx := context.Background()

	var calls atomic.Int32
	// The controller answers (even with 503): the failure is the target's.
	r := newReach(clock, httpPing(ctrl.URL+"/healthz", &calls))
	res := failure(now, model.ErrConnect)
	r.observe(ctx, res)
	if res.ProbeIsolated || calls.Load() != 1 {
		t.Fatalf("controller reachable: isolated %v after %d pings", res.ProbeIsolated, calls.Load())
	}

	// No controller, no other target: the probe's own network.
	r = newReach(clock, httpPing(down, &calls))
	res = failure(now, model.ErrTimeout)
	r.observe(ctx, res)
	if !res.ProbeIsolated {
		t.Fatal("reached nothing, yet the failure was charged to the target")
	}

	// Another target answered after the failure was seen: the network
	// works.
	r = newReach(clock, httpPing(down, &calls))
	r.observe(ctx, &model.Result{Started: now.Add(time.Second), DurationUS: 1000, Outcome: model.OutcomeUp})
	res = failure(now, model.ErrConnect)
	r.observe(ctx, res)
	if res.ProbeIsolated {
		t.Fatal("another target answered, yet the failure was marked as the probe's")
	}
	// An answer from before the failure was seen may predate a cut: it
	// does not count, and without a controller the failure is the probe's.
	r = newReach(clock, httpPing(down, &calls))
	r.observe(ctx, &model.Result{Started: now.Add(-time.Second), DurationUS: 1000, Outcome: model.OutcomeUp})
	r.controllerOK()
	res = failure(clock(), model.ErrConnect)
	r.observe(ctx, res)
	if !res.ProbeIsolated {
		t.Fatal("answers from before the failure hid the probe's own outage")
	}

	// The target answered with a bad status: it was reached.
	r = newReach(clock, httpPing(down, &calls))
	res = failure(now, model.ErrStatus)
	res.HTTPStatus = 500
	r.observe(ctx, res)
	if res.ProbeIsolated {
		t.Fatal("a target that answered 500 was reached")
	}

	// The target's host refused the connection: its network was reached,
	// though no controller and no other target answered.
	r = newReach(clock, httpPing(down, &calls))
	res = failure(now, model.ErrConnect)
	res.HostAnswered = true
	r.observe(ctx, res)
	if res.ProbeIsolated || r.networkSeen().IsZero() {
		t.Fatal("a host that refused the connection was not reached")
	}

	// An answer from the controller after the failure stands: no ping.
	calls.Store(0)
	r = newReach(clock, httpPing(down, &calls))
	res = failure(now, model.ErrDNS)
	r.controllerOK()
	r.observe(ctx, res)
	if res.ProbeIsolated || calls.Load() != 0 {
		t.Fatalf("fresh controller contact: isolated %v, %d pings", res.ProbeIsolated, calls.Load())
	}
}

func TestConcurrentFailuresShareOnePing(t *testing.T) {
	clock := ticking(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	now := clock()
	var calls atomic.Int32
	release := make(chan struct{})
	r := newReach(clock, func(ctx context.Context) error {
		calls.Add(1)
		<-release
		return context.DeadlineExceeded
	})
	var wg sync.WaitGroup
	results := make([]*model.Result, 50)
	for i := range results {
		results[i] = failure(now, model.ErrConnect)
		wg.Add(1)
		go func() { defer wg.Done(); r.observe(context.Background(), results[i]) }()
	}
	close(release)
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("%d pings for one moment of isolation", calls.Load())
	}
	for i, res := range results {
		if !res.ProbeIsolated {
			t.Fatalf("failure %d not marked", i)
		}
	}
}

// ticking is a clock that moves on a second at every reading.
func ticking(start time.Time) func() time.Time {
	var mu sync.Mutex
	now := start
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Second)
		return now
	}
}
