package alerts

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/internal/testwait"
)

// The dead man's switch is called every interval while it is configured,
// a failed call is counted, and a reload that removes it stops the calls.
func TestDeadmanCallsWhileConfigured(t *testing.T) {
	var calls, failing atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if failing.Load() == 1 {
			http.Error(w, "no", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	var cfg atomic.Pointer[config.Config]
	cfg.Store(&config.Config{Alerting: config.Alerting{Deadman: &config.Deadman{URL: srv.URL + "/ping/abc", Every: config.Duration(time.Second)}}})
	a := &Alerts{o: Options{Config: cfg.Load, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}}
	counter := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "calls"}, []string{"outcome"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Deadman(ctx, srv.Client(), counter) }()
	defer func() { cancel(); <-done }()

	testwait.Eventually(t, 5*time.Second, "two calls", func() error {
		if n := testutil.ToFloat64(counter.WithLabelValues("ok")); n < 2 {
			return fmt.Errorf("%v calls", n)
		}
		return nil
	})
	failing.Store(1)
	testwait.Eventually(t, 5*time.Second, "a failed call counted", func() error {
		if n := testutil.ToFloat64(counter.WithLabelValues("error")); n < 1 {
			return fmt.Errorf("%v failed calls", n)
		}
		return nil
	})
	cfg.Store(&config.Config{})
	before := calls.Load()
	testwait.Throughout(t, 3500*time.Millisecond, "no call once the switch is removed (but one in flight)", func() error {
		if n := calls.Load(); n > before+1 {
			return fmt.Errorf("%d more calls", n-before)
		}
		return nil
	})
}
