package probe

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nines-sre/nines/alerting/pagerdutytest"
	"github.com/nines-sre/nines/internal/testwait"
	"github.com/nines-sre/nines/model"
)

const watchdogKey = "WATCHDOGWATCHDOGWATCHDOGWATCH001"

// runWatched runs a probe of region against ctl, paging pd after a second
// without a controller; it stops when the test ends.
func runWatched(t *testing.T, ctl, region, pd string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Region: region, ProbeID: "p-" + region, Controller: ctl, Token: "tok",
			SpoolPath: filepath.Join(t.TempDir(), "spool.db"), MaxBackoff: 200 * time.Millisecond, Registry: prometheus.NewRegistry(),
			Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
			Watchdog: WatchdogOptions{After: time.Second, RoutingKey: watchdogKey, EventsURL: pd}})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

// Probes that reach their targets but no controller page once for the
// installation, and resolve when the controller answers again.
func TestWatchdogPagesOnceAndResolves(t *testing.T) {
	pd := pagerdutytest.New()
	defer pd.Close()
	fc, ctl := fastCheck(t, 100*time.Millisecond)
	runWatched(t, ctl.URL, "eu-london", pd.URL)
	runWatched(t, ctl.URL, "ap-tokyo", pd.URL)
	waitUntil(t, 5*time.Second, "results shipped", func() bool { return fc.count() >= 2 })

	fc.failing.Store(true)
	testwait.Eventually(t, 10*time.Second, "one incident, triggered by both probes", func() error {
		triggers := map[string]bool{}
		for _, ev := range pd.Events() {
			if ev.Action == "trigger" {
				triggers[fmt.Sprint(ev.Payload["group"])] = true
			}
		}
		if inc := pd.IncidentsFor(watchdogKey); len(inc) != 1 || inc[0].Status != "triggered" || len(triggers) != 2 {
			return fmt.Errorf("incidents %+v, triggers from %v", inc, triggers)
		}
		return nil
	})
	fc.failing.Store(false)
	testwait.Eventually(t, 10*time.Second, "the incident resolved", func() error {
		if inc := pd.IncidentsFor(watchdogKey); len(inc) != 1 || inc[0].Status != "resolved" {
			return fmt.Errorf("incidents %+v", inc)
		}
		return nil
	})
	if v := pd.Violations(); len(v) > 0 {
		t.Fatal(v)
	}
}

// A probe that reaches nothing at all (its targets time out too) is cut
// off itself, and does not page. (A target that refuses the connection
// answered: the probe's network works, and it would page.)
func TestWatchdogIsQuietWhenNothingAnswers(t *testing.T) {
	pd := pagerdutytest.New()
	defer pd.Close()
	var hang atomic.Bool
	release := make(chan struct{})
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hang.Load() {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		io.WriteString(w, "ok")
	}))
	defer target.Close()
	defer close(release)
	fc := &fakeController{results: map[string]model.Result{}, interval: 100 * time.Millisecond,
		checks: []model.Check{{ID: "fast", Kind: model.KindHTTP, Interval: time.Second, Timeout: 300 * time.Millisecond,
			HTTP: &model.HTTPSpec{URL: target.URL, Method: "GET"}}}}
	ctl := httptest.NewServer(fc.handler())
	defer ctl.Close()
	runWatched(t, ctl.URL, "eu-london", pd.URL)
	waitUntil(t, 5*time.Second, "a result shipped", func() bool { return fc.count() >= 1 })

	hang.Store(true) // no answer from now on: every run times out
	fc.failing.Store(true)
	testwait.Throughout(t, 4*time.Second, "no page from a probe that reaches nothing", func() error {
		if ev := pd.Events(); len(ev) > 0 {
			return fmt.Errorf("paged: %+v", ev)
		}
		return nil
	})
}
