package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nines-sre/nines/internal/testwait"
	"github.com/nines-sre/nines/model"
)

func TestPhaseScheduleIsOnTheGrid(t *testing.T) {
	p := phase{interval: time.Minute, offset: 17 * time.Second}
	base := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ at, want time.Time }{
		{base, base.Add(17 * time.Second)},
		{base.Add(17 * time.Second), base.Add(77 * time.Second)},
		{base.Add(16*time.Second + 999*time.Millisecond), base.Add(17 * time.Second)},
		{base.Add(50 * time.Second), base.Add(77 * time.Second)},
	} {
		if got := p.Next(tc.at); !got.Equal(tc.want) {
			t.Errorf("Next(%s) = %s, want %s", tc.at.Format(time.TimeOnly), got.Format(time.TimeOnly), tc.want.Format(time.TimeOnly))
		}
	}
}

func TestSpoolIsDurableAndBounded(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "spool.db")
	t0 := time.Unix(1_800_000_000, 0).UTC()
	res := func(i int) *model.Result {
		return &model.Result{Check: "c", Region: "eu-london", Scheduled: t0.Add(time.Duration(i) * time.Minute), Outcome: model.OutcomeUp}
	}
	one, _ := json.Marshal(res(0))
	s, err := OpenSpool(ctx, path, int64(3*len(one)), 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := s.Put(ctx, res(i)); err != nil {
			t.Fatal(err)
		}
	}
	if s.Depth() != 3 || s.Dropped() != 2 || s.Bytes() != int64(3*len(one)) {
		t.Fatalf("depth %d bytes %d dropped %d, want 3, %d and 2", s.Depth(), s.Bytes(), s.Dropped(), 3*len(one))
	}
	s.Close()
	s, err = OpenSpool(ctx, path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Peek(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := got[0].Result()
	if len(got) != 3 || !first.Scheduled.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("after reopen: %d results, oldest %v: the oldest should have been dropped", len(got), first.Scheduled)
	}
	if err := s.Delete(ctx, []int64{got[0].ID, got[1].ID}); err != nil {
		t.Fatal(err)
	}
	if s.Depth() != 1 || s.Bytes() != int64(len(one)) {
		t.Fatalf("depth %d bytes %d after delete", s.Depth(), s.Bytes())
	}
	s.Close()

	// Age: results older than the bound go first, whatever the size.
	clock := t0
	s, err = OpenSpool(ctx, path, 0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.now = func() time.Time { return clock }
	if dropped, _ := s.Put(ctx, res(10)); dropped != 1 || s.Depth() != 1 {
		t.Fatalf("dropped %d, depth %d: the result spooled long before should go", dropped, s.Depth())
	}
	clock = clock.Add(2 * time.Hour)
	if dropped, _ := s.Put(ctx, res(11)); dropped != 1 || s.Depth() != 1 || s.Dropped() != 2 {
		t.Fatalf("dropped %d, depth %d: the result two hours old should go", dropped, s.Depth())
	}
}

// fakeController answers like the real one, and can be made to fail.
type fakeController struct {
	mu       sync.Mutex
	results  map[string]model.Result
	failing  atomic.Bool
	batches  atomic.Int64
	interval time.Duration
	checks   []model.Check
	beats    []model.Heartbeat
	// confirm hands on-demand runs to the probe's long-poll.
	confirm chan model.ConfirmRequests
}

func (f *fakeController) handler() http.Handler {
	e := echo.New()
	e.Use(middleware.Decompress())
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if f.failing.Load() {
				return c.String(http.StatusServiceUnavailable, "down for maintenance")
			}
			if c.Request().Header.Get("Authorization") != "Bearer tok" {
				return c.String(http.StatusUnauthorized, "bad token")
			}
			return next(c)
		}
	})
	beat := func(c echo.Context) error {
		var hb model.Heartbeat
		if err := c.Bind(&hb); err != nil {
			return err
		}
		f.mu.Lock()
		f.beats = append(f.beats, hb)
		f.mu.Unlock()
		return c.JSON(200, model.HeartbeatAck{HeartbeatInterval: f.interval, Assignment: `"a1"`, ServerTime: time.Now().UTC()})
	}
	e.POST("/api/v1/probes/register", beat)
	e.POST("/api/v1/probes/heartbeat", beat)
	e.GET("/api/v1/assignment", func(c echo.Context) error {
		return c.JSON(200, model.Assignment{Version: `"a1"`, Region: "eu-london", Checks: f.checks})
	})
	e.GET("/api/v1/probes/confirm", func(c echo.Context) error {
		select {
		case reqs := <-f.confirm:
			return c.JSON(200, reqs)
		case <-time.After(time.Second):
			return c.JSON(200, model.ConfirmRequests{})
		case <-c.Request().Context().Done():
			return nil
		}
	})
	e.POST("/api/v1/results", func(c echo.Context) error {
		var b model.ResultBatch
		if err := json.NewDecoder(c.Request().Body).Decode(&b); err != nil {
			return c.String(400, err.Error())
		}
		f.batches.Add(1)
		f.mu.Lock()
		defer f.mu.Unlock()
		ack := model.IngestAck{}
		for _, r := range b.Results {
			if _, dup := f.results[r.Key()]; dup {
				ack.Duplicates++
				continue
			}
			f.results[r.Key()] = r
			ack.Stored++
		}
		return c.JSON(200, ack)
	})
	return e
}

// fastCheck serves a fake controller whose one check, fast, runs every
// second against a target that is up; probes heartbeat every interval.
func fastCheck(t *testing.T, interval time.Duration) (*fakeController, *httptest.Server) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(target.Close)
	fc := &fakeController{results: map[string]model.Result{}, interval: interval, confirm: make(chan model.ConfirmRequests),
		checks: []model.Check{{ID: "fast", Kind: model.KindHTTP, Interval: time.Second, Timeout: 500 * time.Millisecond,
			HTTP: &model.HTTPSpec{URL: target.URL, Method: "GET"}}}}
	ctl := httptest.NewServer(fc.handler())
	t.Cleanup(ctl.Close)
	return fc, ctl
}

func (f *fakeController) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.results)
}

func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	testwait.Eventually(t, limit, what, func() error {
		if !cond() {
			return errors.New("not yet")
		}
		return nil
	})
}

// The probe runs on the clock it is given: its results are scheduled, and
// it says it started, by that clock, and it measures that clock's offset
// to the controller's.
func TestProbeClockIsInjected(t *testing.T) {
	fc, ctl := fastCheck(t, 100*time.Millisecond)
	const ahead = 45 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Region: "eu-london", ProbeID: "t1", Controller: ctl.URL, Token: "tok", SpoolPath: filepath.Join(t.TempDir(), "spool.db"),
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return time.Now().Add(ahead) }})
	}()
	var offset time.Duration
	testwait.Eventually(t, 5*time.Second, "a result shipped and the clock offset measured", func() error {
		fc.mu.Lock()
		defer fc.mu.Unlock()
		if n := len(fc.beats); n == 0 || fc.beats[n-1].ClockOffsetMS == nil || len(fc.results) == 0 {
			return fmt.Errorf("%d heartbeats, %d results", n, len(fc.results))
		}
		hb := fc.beats[len(fc.beats)-1]
		offset = time.Duration(*hb.ClockOffsetMS) * time.Millisecond
		if d := time.Until(hb.StartedAt); d < ahead-5*time.Second || d > ahead {
			return fmt.Errorf("started %s from now", d)
		}
		for _, r := range fc.results {
			if d := time.Until(r.Scheduled); d < ahead-5*time.Second || d > ahead+time.Second {
				return fmt.Errorf("a result scheduled %s from now", d)
			}
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if offset < ahead-time.Second || offset > ahead+time.Second {
		t.Fatalf("clock offset %s, want about %s", offset, ahead)
	}
}

// The probe keeps checking while the controller is away, spools, then
// backfills everything, oldest first, and the spool ends empty.
func TestProbeSpoolsThroughControllerOutage(t *testing.T) {
	fc, ctl := fastCheck(t, 200*time.Millisecond)

	ctx, cancel := context.WithCancel(context.Background())
	spool := filepath.Join(t.TempDir(), "spool.db")
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Region: "eu-london", ProbeID: "t1", Controller: ctl.URL, Token: "tok", SpoolPath: spool,
			MaxBackoff: 300 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}()
	waitUntil(t, 5*time.Second, "first result shipped", func() bool { return fc.count() >= 1 })
	fc.failing.Store(true)
	failedAt := time.Now()
	before := fc.count()
	testwait.Throughout(t, 3500*time.Millisecond, "no result arriving while the controller fails", func() error {
		if n := fc.count(); n != before {
			return fmt.Errorf("%d results arrived", n-before)
		}
		return nil
	})
	fc.failing.Store(false)
	backAt := time.Now()
	waitUntil(t, 5*time.Second, "backfill", func() bool { return fc.count() >= before+3 })
	// The first heartbeat back vouched for the probe's network while the
	// controller failed: its target kept answering. Later ones carry
	// nothing more.
	waitUntil(t, 5*time.Second, "a heartbeat after the outage", func() bool {
		fc.mu.Lock()
		defer fc.mu.Unlock()
		return len(fc.beats) > 0 && fc.beats[len(fc.beats)-1].SentAt.After(backAt)
	})
	fc.mu.Lock()
	var attested []model.Span
	beatsAfter := 0
	for _, hb := range fc.beats {
		if hb.SentAt.After(backAt) {
			beatsAfter++
			attested = append(attested, hb.Attested...)
		}
	}
	fc.mu.Unlock()
	if len(attested) != 1 || attested[0].From.Before(failedAt.Add(-time.Second)) || attested[0].To.Before(failedAt.Add(2*time.Second)) ||
		attested[0].To.After(backAt) {
		t.Fatalf("vouched for %+v in %d heartbeats after the outage (%s to %s), want one span across it", attested, beatsAfter,
			failedAt.Format(time.StampMilli), backAt.Format(time.StampMilli))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Every slot from the first to the last is present: nothing was lost.
	fc.mu.Lock()
	var first, last time.Time
	for _, r := range fc.results {
		if first.IsZero() || r.Scheduled.Before(first) {
			first = r.Scheduled
		}
		if r.Scheduled.After(last) {
			last = r.Scheduled
		}
		if r.Region != "eu-london" || r.Probe != "t1" || r.Outcome != model.OutcomeUp || r.ConfigVersion != "a1" {
			t.Errorf("result %+v", r)
		}
	}
	n := len(fc.results)
	fc.mu.Unlock()
	if want := int(last.Sub(first)/time.Second) + 1; n != want {
		t.Fatalf("%d results from %s to %s, want %d: a slot is missing", n, first.Format(time.TimeOnly), last.Format(time.TimeOnly), want)
	}
	s, err := OpenSpool(context.Background(), spool, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Depth() != 0 {
		t.Fatalf("%d results left in the spool after the backfill", s.Depth())
	}
}

// A probe that restarts while the controller is down runs its saved
// assignment instead of doing nothing.
func TestProbeRunsSavedAssignmentWhenControllerIsDown(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer target.Close()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "spool.db")
	s, err := OpenSpool(ctx, path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	a := model.Assignment{Version: "saved", Region: "eu-london", Checks: []model.Check{{ID: "fast", Kind: model.KindHTTP, Interval: time.Second,
		Timeout: 500 * time.Millisecond, HTTP: &model.HTTPSpec{URL: target.URL, Method: "GET"}}}}
	if err := s.setMeta(ctx, assignmentKey, a); err != nil {
		t.Fatal(err)
	}
	s.Close()

	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusServiceUnavailable) }))
	defer down.Close()
	rctx, cancel := context.WithTimeout(ctx, 2500*time.Millisecond)
	defer cancel()
	if err := Run(rctx, Options{Region: "eu-london", Controller: down.URL, Token: "tok", SpoolPath: path,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}); err != nil {
		t.Fatal(err)
	}
	s, err = OpenSpool(ctx, path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Depth() < 2 {
		t.Fatalf("%d results spooled in 2.5s of a 1s check", s.Depth())
	}
}

func TestCronSpecSchedule(t *testing.T) {
	s, err := scheduleOf(&model.Check{ID: "nightly", Cron: "30 2 * * *"})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	if got := s.Next(at); !got.Equal(time.Date(2026, 11, 27, 2, 30, 0, 0, time.UTC)) {
		t.Fatalf("next nightly run %s", got)
	}
	if _, err := scheduleOf(&model.Check{ID: "bad", Cron: "61 * * * *"}); err == nil || !strings.Contains(err.Error(), "check bad: cron") {
		t.Fatalf("bad spec: %v", err)
	}
}

// A check slower than its interval never overlaps itself: the slot that
// comes while it runs is skipped, and counted.
func TestCheckNeverOverlapsItself(t *testing.T) {
	var inFlight, most atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(1500 * time.Millisecond)
	}))
	defer target.Close()
	fc := &fakeController{results: map[string]model.Result{}, interval: time.Second,
		checks: []model.Check{{ID: "slow", Kind: model.KindHTTP, Interval: time.Second, Timeout: 3 * time.Second,
			HTTP: &model.HTTPSpec{URL: target.URL, Method: "GET"}}}}
	ctl := httptest.NewServer(fc.handler())
	defer ctl.Close()
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithTimeout(context.Background(), 4500*time.Millisecond)
	defer cancel()
	if err := Run(ctx, Options{Region: "eu-london", ProbeID: "t", Controller: ctl.URL, Token: "tok", SpoolPath: filepath.Join(t.TempDir(), "s.db"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: reg}); err != nil {
		t.Fatal(err)
	}
	if most.Load() != 1 {
		t.Fatalf("%d runs of one check at once", most.Load())
	}
	if n := counterSum(t, reg, "nines_probe_checks_skipped_total"); n < 1 {
		t.Fatal("no skipped slot counted")
	}
}

func counterSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// A failure is stored and handed to the shipper at once; results that are
// up wait for company, up to writeLinger.
func TestFailureSkipsTheWriteLinger(t *testing.T) {
	s, err := OpenSpool(context.Background(), filepath.Join(t.TempDir(), "spool.db"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := &Probe{opts: Options{BatchSize: 1000}, spool: s, m: newMetrics(prometheus.NewRegistry(), func() float64 { return 0 }, func() float64 { return 0 }),
		log: slog.New(slog.NewTextHandler(io.Discard, nil)), wake: make(chan struct{}, 1), queue: make(chan *model.Result, 8)}
	done := make(chan struct{})
	go func() { defer close(done); p.writeLoop() }()
	defer func() { close(p.queue); <-done }()
	at := time.Now().UTC().Truncate(time.Minute)
	result := func(check string, o model.Outcome) *model.Result {
		return &model.Result{Check: check, Region: "eu-london", Scheduled: at, Started: at, Outcome: o}
	}

	p.record(result("api", model.OutcomeUp))
	select {
	case <-p.wake:
		t.Fatal("the shipper was woken for one result that is up")
	case <-time.After(writeLinger / 2):
	}
	if d := s.Depth(); d != 0 {
		t.Fatalf("spool depth %d before the linger ended, want 0", d)
	}
	began := time.Now()
	p.record(result("cdn", model.OutcomeDown))
	select {
	case <-p.wake:
	case <-time.After(10 * writeLinger):
		t.Fatal("the shipper was not woken for a failure")
	}
	if s.Depth() != 2 {
		t.Fatalf("spool depth %d after the failure, want 2 (the failure and the result waiting with it)", s.Depth())
	}
	if waited := time.Since(began); waited >= writeLinger {
		t.Errorf("the failure waited %s for the spool, want less than the linger %s", waited, writeLinger)
	}
}

// A run asked on demand starts at once, is shipped marked as such, and
// leaves the schedule where it was: every scheduled run stays on its grid.
func TestOnDemandRunsKeepTheSchedule(t *testing.T) {
	fc, ctl := fastCheck(t, time.Second)
	fc.checks[0].Interval = 3 * time.Second
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Region: "eu-london", ProbeID: "t1", Controller: ctl.URL, Token: "tok", SpoolPath: filepath.Join(t.TempDir(), "spool.db"),
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: reg})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	waitUntil(t, 10*time.Second, "a scheduled result", func() bool { return fc.count() >= 1 })
	// Ask off the grid: 1.5 s after a slot.
	for time.Now().UnixMilli()%3000 < 1500 || time.Now().UnixMilli()%3000 > 1700 {
		time.Sleep(20 * time.Millisecond)
	}
	asked := time.Now()
	select {
	case fc.confirm <- model.ConfirmRequests{Requests: []model.ConfirmRequest{{Round: 7, Check: "fast", Asked: asked}, {Round: 7, Check: "unknown", Asked: asked}}}:
	case <-time.After(5 * time.Second):
		t.Fatal("the probe does not poll for on-demand runs")
	}
	var onDemand model.Result
	waitUntil(t, 5*time.Second, "the on-demand result", func() bool {
		fc.mu.Lock()
		defer fc.mu.Unlock()
		for _, r := range fc.results {
			if r.OnDemand {
				onDemand = r
				return true
			}
		}
		return false
	})
	if d := onDemand.Scheduled.Sub(asked); d < -50*time.Millisecond || d > time.Second {
		t.Fatalf("the on-demand run started %s after it was asked", d)
	}
	since := fc.count()
	waitUntil(t, 10*time.Second, "two more scheduled results", func() bool { return fc.count() >= since+2 })
	fc.mu.Lock()
	defer fc.mu.Unlock()
	for _, r := range fc.results {
		if !r.OnDemand && r.Scheduled.UnixMilli()%3000 != 0 {
			t.Errorf("a scheduled run off its grid: %s", r.Scheduled.Format(time.StampMilli))
		}
	}
	if n := counterSum(t, reg, "nines_probe_on_demand_runs_total"); n != 1 {
		t.Errorf("on-demand runs counted: %v, want 1 (the unknown check is passed over)", n)
	}
}
