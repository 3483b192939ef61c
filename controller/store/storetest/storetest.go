// Package storetest is the contract of store.Store as a test suite: every
// backend runs it and must behave alike.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nines-sre/nines/alerting"
	"github.com/nines-sre/nines/controller/sla"
	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/model"
)

// Fresh makes a new, empty place for a store (a file, a schema) and returns
// how to open it; every call of open opens that same place again.
type Fresh func(t *testing.T) (open func() (store.Store, error))

// Run runs the contract suite against the backend that fresh makes.
func Run(t *testing.T, fresh Fresh) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, func() (store.Store, error))
	}{
		{"InsertIsIdempotentAndSurvivesReopen", insertIdempotent},
		{"ConcurrentIngestStoresEachResultOnce", concurrentIngest},
		{"DirtyMarksAndSlices", dirtyAndSlices},
		{"CountsHistoryAndServiceSlices", countsAndHistory},
		{"LatencyEventsRollUp", latencyEvents},
		{"SLOEventsReplacePerMinute", sloEvents},
		{"AlertEventsOpenKeepAndResolve", alertEvents},
		{"RetentionKeepsRollups", retention},
		{"AlertsAndOutbox", alertsAndOutbox},
		{"Incidents", incidents},
		{"Announcements", announcements},
		{"ProbeHeartbeats", heartbeats},
		{"Screenshots", screenshots},
		{"RegionHealthAndIsolatedResults", regionHealth},
		{"Sessions", sessions},
		{"Subscribers", subscribers},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, fresh(t))
		})
	}
}

func mustOpen(t *testing.T, open func() (store.Store, error)) store.Store {
	t.Helper()
	s, err := open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Result is a plausible result of check in region scheduled at at.
func Result(check, region string, at time.Time, outcome model.Outcome) model.Result {
	r := model.Result{Check: check, Region: region, Scheduled: at, Probe: "p-" + region, ConfigVersion: "v1",
		Started: at.Add(3 * time.Millisecond), DurationUS: 1500, Outcome: outcome, HTTPStatus: 200,
		Phases: model.Phases{DNS: 10, Connect: 100, TTFB: 900, Transfer: 50}, Bytes: 42}
	if outcome == model.OutcomeDown {
		r.ErrorClass, r.HTTPStatus, r.Message = model.ErrStatus, 503, "status 503"
	}
	return r
}

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func insertIdempotent(t *testing.T, open func() (store.Store, error)) {
	ctx := context.Background()
	s, err := open()
	if err != nil {
		t.Fatal(err)
	}
	withEdge := Result("asset", "eu-london", t0, model.OutcomeUp)
	exp := t0.Add(30 * 24 * time.Hour)
	withEdge.CertExpiry = &exp
	withEdge.Edge = &model.Edge{IP: "192.0.2.1", ContentHash: "ab12", Version: "3", Cache: map[string]string{"Age": "12"}}
	if _, err := s.InsertResults(ctx, []model.Result{withEdge}); err != nil {
		t.Fatal(err)
	}
	back, err := s.Results(ctx, store.Query{Check: "asset", Since: t0})
	if err != nil || len(back) != 1 || !back[0].CertExpiry.Equal(exp) || back[0].Edge.Cache["Age"] != "12" || back[0].Edge.Version != "3" {
		t.Fatalf("cert and edge round trip: %v %+v", err, back)
	}
	batch := []model.Result{
		Result("api", "eu-london", t0, model.OutcomeUp),
		Result("api", "eu-frankfurt", t0, model.OutcomeDown),
		Result("api", "eu-london", t0.Add(time.Minute), model.OutcomeUp),
	}
	stored, err := s.InsertResults(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if !stored[0] || !stored[1] || !stored[2] {
		t.Fatalf("first insert stored %v", stored)
	}
	again, err := s.InsertResults(ctx, append(batch[1:], Result("api", "eu-london", t0.Add(2*time.Minute), model.OutcomeUp)))
	if err != nil {
		t.Fatal(err)
	}
	if again[0] || again[1] || !again[2] {
		t.Fatalf("retried batch stored %v, want duplicates then one new", again)
	}
	// A batch repeating a result within itself stores it once.
	twice := Result("api", "ap-tokyo", t0, model.OutcomeUp)
	if got, err := s.InsertResults(ctx, []model.Result{twice, twice}); err != nil || !got[0] || got[1] {
		t.Fatalf("a result twice in one batch: %v %v", got, err)
	}
	s.Close()

	s = mustOpen(t, open)
	if n, _ := s.CountResults(ctx); n != 6 {
		t.Fatalf("%d results after reopen, want 6", n)
	}
	got, err := s.Results(ctx, store.Query{Check: "api", Region: "eu-frankfurt", Since: t0})
	if err != nil {
		t.Fatal(err)
	}
	want := batch[1]
	want.Started = want.Started.Truncate(time.Millisecond)
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
	latest, err := s.Latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(latest) != 4 {
		t.Fatalf("latest %d rows, want one per check and region", len(latest))
	}
	for _, r := range latest {
		if r.Check == "api" && r.Region == "eu-london" && !r.Scheduled.Equal(t0.Add(2*time.Minute)) {
			t.Fatalf("latest of eu-london is %s", r.Scheduled)
		}
	}
	if _, err := s.Results(ctx, store.Query{Check: "nope", Since: t0}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown check: %v", err)
	}
	if _, err := s.Results(ctx, store.Query{Check: "api", Region: "nowhere", Since: t0}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown region: %v", err)
	}
	ranged, err := s.Results(ctx, store.Query{Check: "api", Region: "eu-london", Since: t0.Add(time.Second), Until: t0.Add(2 * time.Minute)})
	if err != nil || len(ranged) != 1 {
		t.Fatalf("range query: %v %d", err, len(ranged))
	}
	limited, err := s.Results(ctx, store.Query{Check: "api", Since: t0, Limit: 2})
	if err != nil || len(limited) != 2 || limited[0].Scheduled.After(limited[1].Scheduled) {
		t.Fatalf("limited query, oldest first: %v %+v", err, limited)
	}
	outs, err := s.Outcomes(ctx, "api", t0, t0.Add(time.Minute))
	if err != nil || len(outs) != 3 {
		t.Fatalf("outcomes of the first minute: %v %+v", err, outs)
	}
	for _, o := range outs {
		if (o.Region == "eu-frankfurt") == (o.Outcome == model.OutcomeUp) || o.Duration != 1500*time.Microsecond {
			t.Fatalf("outcome %+v", o)
		}
	}
	if n, err := s.DiskBytes(ctx); err != nil || n <= 0 {
		t.Fatalf("disk bytes %d %v", n, err)
	}
}

// concurrentIngest sends overlapping batches from several goroutines (as
// probes retrying against several controllers would): every result ends up
// stored once and reported new exactly once.
func concurrentIngest(t *testing.T, open func() (store.Store, error)) {
	ctx := context.Background()
	s := mustOpen(t, open)
	const workers, n = 4, 200
	var all []model.Result
	for i := range n {
		all = append(all, Result(fmt.Sprintf("c%d", i%10), "us-ohio", t0.Add(time.Duration(i/10)*time.Minute), model.OutcomeUp))
	}
	var mu sync.Mutex
	newCount := 0
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each worker sends everything, in batches of 50, starting at a
			// different offset.
			for b := range n / 50 {
				from := ((b + w) % (n / 50)) * 50
				stored, err := s.InsertResults(ctx, all[from:from+50])
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for _, ok := range stored {
					if ok {
						newCount++
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if newCount != n {
		t.Fatalf("%d results reported new, want %d", newCount, n)
	}
	if c, _ := s.CountResults(ctx); c != n {
		t.Fatalf("%d results stored, want %d", c, n)
	}
}

func dirtyAndSlices(t *testing.T, open func() (store.Store, error)) {
	ctx := context.Background()
	s := mustOpen(t, open)
	if _, err := s.InsertResults(ctx, []model.Result{
		Result("api", "eu-london", t0, model.OutcomeUp), Result("api", "eu-frankfurt", t0.Add(10*time.Second), model.OutcomeUp),
		Result("api", "eu-london", t0.Add(time.Minute), model.OutcomeDown),
	}); err != nil {
		t.Fatal(err)
	}
	d, err := s.DirtyMinutes(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	m0 := sla.MinuteOf(t0)
	if len(d.Checks["api"]) != 2 || d.Seq == 0 {
		t.Fatalf("dirty %+v, want the two minutes of api", d)
	}
	// A result of the first minute arrives after the marks were read: its
	// mark is renewed and must survive the slicer clearing what it read.
	if _, err := s.InsertResults(ctx, []model.Result{Result("api", "ap-tokyo", t0.Add(20*time.Second), model.OutcomeUp)}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSlices(ctx, "api", map[sla.Minute]sla.Slice{m0: sla.SliceUp, m0 + 1: sla.SliceDown}, []sla.Minute{m0, m0 + 1}, d.Seq); err != nil {
		t.Fatal(err)
	}
	d2, err := s.DirtyMinutes(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(d2.Checks["api"]) != 1 || d2.Checks["api"][0] != m0 || d2.Seq <= d.Seq {
		t.Fatalf("after slicing, dirty %+v, want only the renewed minute %d", d2, m0)
	}
	if err := s.PutSlices(ctx, "api", map[sla.Minute]sla.Slice{m0: sla.SliceUp}, []sla.Minute{m0}, d2.Seq); err != nil {
		t.Fatal(err)
	}
	if d3, _ := s.DirtyMinutes(ctx, 100); len(d3.Checks) != 0 {
		t.Fatalf("dirty after the second pass: %+v", d3)
	}
	if err := s.MarkAllDirty(ctx, "api"); err != nil {
		t.Fatal(err)
	}
	if d4, _ := s.DirtyMinutes(ctx, 100); len(d4.Checks["api"]) != 2 {
		t.Fatalf("MarkAllDirty: %+v, want both minutes with results", d4)
	}
	if err := s.MarkAllDirty(ctx, "never-seen"); err != nil {
		t.Fatalf("MarkAllDirty of an unknown check: %v", err)
	}
	// A region's health changed over its second minute: that minute of
	// each check it has results of there, and nothing else.
	d4, _ := s.DirtyMinutes(ctx, 100)
	if err := s.PutSlices(ctx, "api", map[sla.Minute]sla.Slice{m0: sla.SliceUp, m0 + 1: sla.SliceDown}, []sla.Minute{m0, m0 + 1}, d4.Seq); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkRegionDirty(ctx, "eu-london", t0.Add(30*time.Second), t0.Add(90*time.Second)); err != nil {
		t.Fatal(err)
	}
	if d5, _ := s.DirtyMinutes(ctx, 100); len(d5.Checks) != 1 || fmt.Sprint(d5.Checks["api"]) != fmt.Sprint([]sla.Minute{m0 + 1}) {
		t.Fatalf("MarkRegionDirty: %+v, want api's second minute", d5)
	}
	if err := s.MarkRegionDirty(ctx, "nowhere", t0, t0.Add(time.Hour)); err != nil {
		t.Fatalf("MarkRegionDirty of an unknown region: %v", err)
	}
}

func countsAndHistory(t *testing.T, open func() (store.Store, error)) {
	ctx := context.Background()
	s := mustOpen(t, open)
	day := sla.MinuteOf(t0) / sla.SpanDay * sla.SpanDay
	a := map[sla.Minute]sla.Slice{}
	b := map[sla.Minute]sla.Slice{}
	// Check a: up the whole day but for 3 down minutes at 01:00 and one
	// maintenance minute; check b: 30 minutes degraded at 02:00.
	for m := day; m < day+sla.SpanDay; m++ {
		a[m], b[m] = sla.SliceUp, sla.SliceUp
	}
	for m := day + 60; m < day+63; m++ {
		a[m] = sla.SliceDown
	}
	a[day+200] = sla.SliceMaintenance
	for m := day + 120; m < day+150; m++ {
		b[m] = sla.SliceDegraded
	}
	if err := s.PutSlices(ctx, "a", a, nil, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSlices(ctx, "b", b, nil, 0); err != nil {
		t.Fatal(err)
	}
	// Over the day and a bit more: whole day from rollups, edges from slices.
	counts, err := s.Counts(ctx, nil, day-30, day+sla.SpanDay+30)
	if err != nil {
		t.Fatal(err)
	}
	if c := counts["a"]; c.Good != sla.SpanDay-4 || c.Bad != 3 || c.Maintenance != 1 || c.Unknown != 60 {
		t.Fatalf("counts of a: %+v", c)
	}
	if c := counts["b"]; c.Good != sla.SpanDay || c.Bad != 0 {
		t.Fatalf("counts of b (degraded counts as good): %+v", c)
	}
	part, err := s.Counts(ctx, []string{"a"}, day+61, day+125)
	if err != nil || part["a"].Bad != 2 || part["a"].Good != 62 || len(part) != 1 {
		t.Fatalf("partial counts: %+v %v", part, err)
	}
	hist, err := s.History(ctx, []string{"a"}, sla.SpanHour, day, day+sla.SpanDay)
	if err != nil || len(hist["a"]) != 24 || hist["a"][1].Bad != 3 || !hist["a"][1].Start.Equal((day + 60).Time()) {
		t.Fatalf("hourly history of a: %v %+v", err, hist["a"])
	}
	daily, err := s.History(ctx, nil, sla.SpanDay, day, day+sla.SpanDay)
	if err != nil || len(daily) != 2 || daily["b"][0].Good != sla.SpanDay {
		t.Fatalf("daily history: %v %+v", err, daily)
	}
	var seen []sla.Slice
	if err := s.ServiceSlices(ctx, []string{"a", "b"}, day+59, day+122, func(m sla.Minute, sl sla.Slice) {
		seen = append(seen, sl)
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 63 || seen[0] != sla.SliceUp || seen[1] != sla.SliceDown || seen[61] != sla.SliceDegraded {
		t.Fatalf("service slices: %d %v", len(seen), seen[:4])
	}
	// Replacing a verdict updates the rollups.
	if err := s.PutSlices(ctx, "a", map[sla.Minute]sla.Slice{day + 60: sla.SliceUp}, nil, 0); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Counts(ctx, []string{"a"}, day, day+sla.SpanDay); c["a"].Bad != 2 {
		t.Fatalf("after replacing a verdict: %+v", c["a"])
	}
	if c, err := s.Counts(ctx, []string{"unknown"}, day, day+1); err != nil || len(c) != 0 {
		t.Fatalf("counts of an unknown check: %v %v", c, err)
	}
}

func sloEvents(t *testing.T, open func() (store.Store, error)) {
	ctx := context.Background()
	s := mustOpen(t, open)
	day := sla.MinuteOf(t0) / sla.SpanDay * sla.SpanDay
	if e, newest, err := s.SLOEvents(ctx, "renders", day, day+60); err != nil || e != (sla.Events{}) || newest != 0 {
		t.Fatalf("no counts yet: %+v %d %v", e, newest, err)
	}
	counts := map[sla.Minute]sla.Events{}
	for m := day; m < day+10; m++ {
		counts[m] = sla.Events{Good: 99, Total: 100}
	}
	if err := s.PutSLOEvents(ctx, "renders", counts); err != nil {
		t.Fatal(err)
	}
	// A minute sent again replaces its counts: never counted twice.
	if err := s.PutSLOEvents(ctx, "renders", map[sla.Minute]sla.Events{day + 3: {Good: 90, Total: 100}, day + 20: {Good: 5, Total: 5}}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSLOEvents(ctx, "other", map[sla.Minute]sla.Events{day: {Good: 1, Total: 1000}}); err != nil {
		t.Fatal(err)
	}
	e, newest, err := s.SLOEvents(ctx, "renders", day, day+20)
	if err != nil || e.Good != 9*99+90 || e.Total != 1000 || newest != day+9 {
		t.Fatalf("counts of [day, day+20): %+v newest %d %v", e, newest, err)
	}
	if e, newest, _ := s.SLOEvents(ctx, "renders", day, day+sla.SpanDay); e.Total != 1005 || newest != day+20 {
		t.Fatalf("counts of the day: %+v newest %d", e, newest)
	}
	// Minutes of no events before the first events do not count.
	if err := s.PutSLOEvents(ctx, "renders", map[sla.Minute]sla.Events{day - 30: {}, day - 1: {}}); err != nil {
		t.Fatal(err)
	}
	if first, err := s.FirstSLOEvents(ctx, "renders"); err != nil || first != day {
		t.Fatalf("first minute %d, want %d: %v", first, day, err)
	}
	if first, err := s.FirstSLOEvents(ctx, "nothing"); err != nil || first != 0 {
		t.Fatalf("first minute of no counts %d: %v", first, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, open)
	if e, _, _ := s.SLOEvents(ctx, "renders", day, day+sla.SpanDay); e.Total != 1005 {
		t.Fatalf("after reopening: %+v", e)
	}
}

func alertEvents(t *testing.T, open func() (store.Store, error)) {
	ctx := context.Background()
	s := mustOpen(t, open)
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	put := func(rule string, e model.AlertEvent, min int) bool {
		t.Helper()
		if e.Action == "" {
			e.Action = model.EventTrigger
		}
		changed, err := s.PutAlertEvent(ctx, rule, &e, at(min))
		if err != nil {
			t.Fatal(err)
		}
		return changed
	}
	if put("errors", model.AlertEvent{Key: "fp-1", Action: model.EventResolve}, 0) {
		t.Fatal("a resolve of an unknown key changed something")
	}
	put("errors", model.AlertEvent{Key: "fp-1", Summary: "first", Link: "https://errors.example/fp-1", Details: map[string]string{"sdk": "js/1.1.0"}}, 0)
	put("errors", model.AlertEvent{Key: "fp-2", Summary: "other"}, 1)
	put("deploys", model.AlertEvent{Key: "fp-1", Summary: "same key, other rule"}, 2)
	// A trigger again keeps the key open with the newest text, counted.
	put("errors", model.AlertEvent{Key: "fp-1", Summary: "second"}, 3)
	evs, err := s.AlertEvents(ctx, at(0), store.MaxAlertEvents)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 || evs[0].Rule != "errors" || evs[0].Key != "fp-1" || evs[1].Rule != "deploys" || evs[2].Key != "fp-2" {
		t.Fatalf("events newest first: %+v", evs)
	}
	e := evs[0]
	if e.Summary != "second" || e.Link != "" || e.Details != nil || e.Count != 2 || !e.FirstAt.Equal(at(0)) || !e.LastAt.Equal(at(3)) || e.ResolvedAt != nil {
		t.Fatalf("fp-1 after two triggers: %+v", e)
	}
	if evs, _ := s.AlertEvents(ctx, at(2), store.MaxAlertEvents); len(evs) != 2 {
		t.Fatalf("events since minute 2: %+v", evs)
	}
	if evs, _ := s.AlertEvents(ctx, at(0), 1); len(evs) != 1 || evs[0].Key != "fp-1" {
		t.Fatalf("limit 1: %+v", evs)
	}
	// A resolve ends it once; a trigger after opens it anew.
	if !put("errors", model.AlertEvent{Key: "fp-2", Action: model.EventResolve}, 4) || put("errors", model.AlertEvent{Key: "fp-2", Action: model.EventResolve}, 5) {
		t.Fatal("resolve twice: the first changes, the second not")
	}
	evs, _ = s.AlertEvents(ctx, at(0), store.MaxAlertEvents)
	if e := evs[2]; e.Key != "fp-2" || e.ResolvedAt == nil || !e.ResolvedAt.Equal(at(4)) {
		t.Fatalf("fp-2 resolved: %+v", e)
	}
	put("errors", model.AlertEvent{Key: "fp-2", Summary: "back", Details: map[string]string{"a": "1", "b": "2"}}, 6)
	evs, _ = s.AlertEvents(ctx, at(0), store.MaxAlertEvents)
	if e := evs[0]; e.Key != "fp-2" || e.ResolvedAt != nil || !e.FirstAt.Equal(at(6)) || e.Count != 2 || e.Details["b"] != "2" {
		t.Fatalf("fp-2 triggered after its resolve: %+v", e)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, open)
	if n, err := s.PruneAlertEvents(ctx, at(3)); err != nil || n != 1 {
		t.Fatalf("prune before minute 3: %d %v", n, err)
	}
	if evs, _ := s.AlertEvents(ctx, at(0), store.MaxAlertEvents); len(evs) != 2 {
		t.Fatalf("after the prune: %+v", evs)
	}
}

func latencyEvents(t *testing.T, open func() (store.Store, error)) {
	ctx := context.Background()
	s := mustOpen(t, open)
	day := sla.MinuteOf(t0) / sla.SpanDay * sla.SpanDay
	ev := store.LatencyEvents{500: {}}
	for m := day; m < day+180; m++ {
		ev[500][m] = sla.Events{Good: 6, Total: 7}
	}
	// Two checks in one call, one with events, one with a down minute.
	if err := s.PutVerdicts(ctx, []store.Verdicts{
		{Check: "api", Slices: map[sla.Minute]sla.Slice{day: sla.SliceUp}, Events: ev},
		{Check: "web", Slices: map[sla.Minute]sla.Slice{day: sla.SliceUp, day + 1: sla.SliceDown}},
	}); err != nil {
		t.Fatal(err)
	}
	if c, err := s.Counts(ctx, []string{"api", "web"}, day, day+sla.SpanDay); err != nil || c["api"].Good != 1 || c["web"].Good != 1 || c["web"].Bad != 1 {
		t.Fatalf("counts after one call for two checks: %+v %v", c, err)
	}
	if ok, err := s.HasLatencyEvents(ctx, "api", 500); err != nil || !ok {
		t.Fatalf("has events: %v %v", ok, err)
	}
	if ok, _ := s.HasLatencyEvents(ctx, "api", 800); ok {
		t.Fatal("events at a threshold never recorded")
	}
	e, err := s.EventCounts(ctx, []string{"api"}, 500, day+30, day+sla.SpanDay)
	if err != nil || e.Good != 150*6 || e.Total != 150*7 {
		t.Fatalf("event counts: %+v %v", e, err)
	}
	// Minute rows go with retention; the hourly and daily rollups stay.
	if _, err := s.PruneSlices(ctx, day+sla.SpanDay); err != nil {
		t.Fatal(err)
	}
	e, err = s.EventCounts(ctx, []string{"api"}, 500, day, day+sla.SpanDay)
	if err != nil || e.Total != 180*7 {
		t.Fatalf("event counts from rollups: %+v %v", e, err)
	}
}

func retention(t *testing.T, open func() (store.Store, error)) {
	ctx := context.Background()
	s := mustOpen(t, open)
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	old, recent := now.Add(-20*24*time.Hour), now.Add(-time.Hour)
	if _, err := s.InsertResults(ctx, []model.Result{
		Result("api", "eu-london", old, model.OutcomeDown), Result("api", "eu-london", recent, model.OutcomeUp),
		Result("api", "eu-frankfurt", old, model.OutcomeUp),
	}); err != nil {
		t.Fatal(err)
	}
	slices := map[sla.Minute]sla.Slice{sla.MinuteOf(old): sla.SliceDown, sla.MinuteOf(recent): sla.SliceUp}
	if err := s.PutSlices(ctx, "api", slices, nil, 0); err != nil {
		t.Fatal(err)
	}
	n, err := s.PruneResults(ctx, now.Add(-14*24*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("pruned %d results (%v), want the 2 older than 14 days", n, err)
	}
	if left, _ := s.CountResults(ctx); left != 1 {
		t.Fatalf("%d results left", left)
	}
	if n, err := s.PruneSlices(ctx, sla.MinuteOf(now.Add(-14*24*time.Hour))); err != nil || n != 1 {
		t.Fatalf("pruned %d slices (%v)", n, err)
	}
	// The day of the old outage still counts its down minute from the rollups.
	day := sla.MinuteOf(old) / sla.SpanDay * sla.SpanDay
	counts, err := s.Counts(ctx, []string{"api"}, day, day+sla.SpanDay)
	if err != nil || counts["api"].Bad != 1 || counts["api"].Unknown != sla.SpanDay-1 {
		t.Fatalf("counts of the pruned day: %+v %v", counts, err)
	}
}

func alertsAndOutbox(t *testing.T, open func() (store.Store, error)) {
	ctx := context.Background()
	s := mustOpen(t, open)
	fired := t0
	a := &alerting.Alert{Key: "down/api", Rule: "down", Subject: "api", Incident: 1, State: alerting.StateFiring,
		Summary: "api down", PendingSince: t0, FiredAt: &fired, Details: map[string]any{"regions": "7"}}
	msg := func(act alerting.Action) alerting.Message {
		return alerting.Message{AlertKey: a.Key, Incident: 1, Action: act, Summary: a.Summary, At: t0}
	}
	trigger := []alerting.Notification{
		{Notifier: "pd", Message: msg(alerting.ActionTrigger), CreatedAt: t0, NextAt: t0},
		{Notifier: "slack", Message: msg(alerting.ActionTrigger), CreatedAt: t0, NextAt: t0.Add(time.Minute)},
	}
	if err := s.SaveAlert(ctx, a, trigger, t0); err != nil {
		t.Fatal(err)
	}
	a.State = alerting.StateResolved
	resolved := t0.Add(5 * time.Minute)
	a.ResolvedAt = &resolved
	if err := s.SaveAlert(ctx, a, []alerting.Notification{{Notifier: "pd", Message: msg(alerting.ActionResolve), CreatedAt: resolved, NextAt: resolved}}, resolved); err != nil {
		t.Fatal(err)
	}
	// A writer that read the alert before the resolve cannot overwrite it.
	stale := *a
	stale.Revision--
	stale.State = alerting.StateAcknowledged
	if err := s.SaveAlert(ctx, &stale, []alerting.Notification{{Notifier: "pd", Message: msg(alerting.ActionAcknowledge), CreatedAt: t0, NextAt: t0}}, t0); !errors.Is(err, alerting.ErrConflict) {
		t.Fatalf("save at a stale revision: %v, want a conflict", err)
	}
	fresh := &alerting.Alert{Key: a.Key, State: alerting.StatePending}
	if err := s.SaveAlert(ctx, fresh, nil, t0); !errors.Is(err, alerting.ErrConflict) {
		t.Fatalf("a new alert object over a stored key: %v, want a conflict", err)
	}
	if open, err := s.OpenAlerts(ctx); err != nil || len(open) != 0 {
		t.Fatalf("open alerts after resolve: %v %v", open, err)
	}
	got, err := s.Alert(ctx, a.Key)
	if err != nil || got == nil || got.State != alerting.StateResolved || !got.ResolvedAt.Equal(resolved) || got.Details["regions"] != "7" || got.Revision != 2 {
		t.Fatalf("alert round trip: %+v %v", got, err)
	}
	if none, err := s.Alert(ctx, "nope"); none != nil || err != nil {
		t.Fatalf("unknown alert: %v %v", none, err)
	}
	// A resolved alert is recent while it was saved, on the caller's
	// clock, since the time asked.
	if recent, _ := s.RecentAlerts(ctx, resolved.Add(-time.Hour)); len(recent) != 1 {
		t.Fatalf("recent alerts: %d", len(recent))
	}
	if recent, _ := s.RecentAlerts(ctx, resolved.Add(time.Second)); len(recent) != 0 {
		t.Fatalf("alerts resolved before the time asked: %d", len(recent))
	}
	// At t0+10m every notification is due, but the resolve waits behind
	// its undelivered trigger.
	due, err := s.DueNotifications(ctx, t0.Add(10*time.Minute), 10, 10)
	if err != nil || len(due) != 2 || due[0].Notifier != "pd" || due[0].Message.Action != alerting.ActionTrigger || due[1].Notifier != "slack" {
		t.Fatalf("due: %v %+v", err, due)
	}
	if early, _ := s.DueNotifications(ctx, t0, 10, 10); len(early) != 1 {
		t.Fatalf("due at t0: %+v", early)
	}
	n := due[0]
	n.Attempts = 1
	n.LastError = "503"
	n.NextAt = t0.Add(30 * time.Second)
	if err := s.RecordAttempt(ctx, &n, alerting.Attempt{At: t0, Outcome: "retry", Error: "503"}); err != nil {
		t.Fatal(err)
	}
	delivered := t0.Add(31 * time.Second)
	n.Attempts, n.LastError, n.Delivered = 2, "", &delivered
	if err := s.RecordAttempt(ctx, &n, alerting.Attempt{At: delivered, Outcome: "delivered"}); err != nil {
		t.Fatal(err)
	}
	due, _ = s.DueNotifications(ctx, t0.Add(10*time.Minute), 10, 10)
	if len(due) != 2 || due[1].Message.Action != alerting.ActionResolve {
		t.Fatalf("after the trigger is delivered the resolve is due: %+v", due)
	}
	hist, err := s.AlertNotifications(ctx, a.Key)
	if err != nil || len(hist) != 3 || len(hist[0].AttemptLog) != 2 || hist[0].AttemptLog[0].Error != "503" ||
		hist[0].Delivered == nil || !hist[0].Delivered.Equal(delivered) || hist[0].Attempts != 2 {
		t.Fatalf("notification history: %v %+v", err, hist)
	}
}

func incidents(t *testing.T, open func() (store.Store, error)) {
	ctx := context.Background()
	s := mustOpen(t, open)
	opening := store.IncidentOpening{AlertKey: "down/api", AlertSeq: 1, Components: []string{"API"}, Checks: []string{"api"}, Title: "api down",
		Impact: "major", Body: "Confirmed from several regions: api down", At: t0,
		Affected: []store.ComponentChange{{Component: "API", Old: "operational", New: "major_outage"}}}
	id, opened, err := s.OpenIncident(ctx, opening)
	if err != nil || !opened {
		t.Fatal(opened, err)
	}
	again := opening
	again.At, again.Title = t0.Add(time.Minute), "api down again"
	if aid, opened, err := s.OpenIncident(ctx, again); err != nil || aid != id || opened {
		t.Fatalf("opening the same firing twice: %d %v %v, want %d", aid, opened, err, id)
	}
	// Revised by nines: components and checks follow, the title too, the
	// impact only rises; revised by an SRE, the title and impact are
	// theirs, and nines keeps them.
	rev := store.IncidentRevision{Title: "api and cdn down", Impact: "minor", Components: []string{"API", "CDN"}, Checks: []string{"api", "cdn"},
		At: t0.Add(90 * time.Second)}
	if changed, err := s.ReviseIncident(ctx, id, rev); err != nil || !changed {
		t.Fatalf("revise: %v %v", changed, err)
	}
	if changed, err := s.ReviseIncident(ctx, id, rev); err != nil || changed {
		t.Fatalf("the same revision again: %v %v", changed, err)
	}
	if in, _ := s.IncidentByID(ctx, id); in.Title != "api and cdn down" || in.Impact != "major" || fmt.Sprint(in.Components) != "[API CDN]" ||
		fmt.Sprint(in.Checks) != "[api cdn]" || in.Component != "API" || in.EditedBy != "" || !in.UpdatedAt.Equal(t0.Add(90*time.Second)) {
		t.Fatalf("after the revision: %+v", in)
	}
	if _, err := s.ReviseIncident(ctx, id, store.IncidentRevision{Title: "Content delivery degraded", Impact: "minor", By: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReviseIncident(ctx, id, store.IncidentRevision{Title: "api down in 7 of 7 regions", Impact: "critical"}); err != nil {
		t.Fatal(err)
	}
	if in, _ := s.IncidentByID(ctx, id); in.Title != "Content delivery degraded" || in.Impact != "minor" || in.EditedBy != "alice" {
		t.Fatalf("nines overwrote an SRE's title: %+v", in)
	}
	if _, err := s.ReviseIncident(ctx, id+1000, rev); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revising an unknown incident: %v", err)
	}
	if _, err := s.ReviseIncident(ctx, id, store.IncidentRevision{Title: "api down", Impact: "major", By: "alice"}); err != nil {
		t.Fatal(err)
	}
	if got, open, err := s.IncidentForAlert(ctx, "down/api", 1); err != nil || got != id || !open {
		t.Fatalf("incident for alert: %d %v %v", got, open, err)
	}
	if _, open, err := s.IncidentForAlert(ctx, "down/api", 2); err != nil || open {
		t.Fatalf("no incident for the next firing: %v %v", open, err)
	}
	if err := s.AddIncidentUpdate(ctx, id, store.IncidentUpdate{Status: "identified", Body: "bad deploy", Author: "alice", At: t0.Add(2 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	resolved := store.IncidentUpdate{Status: "resolved", Body: "rolled back", Author: "alice", At: t0.Add(3 * time.Minute),
		Affected: []store.ComponentChange{{Component: "API", Old: "major_outage", New: "operational"}, {Component: "CDN", Old: "partial_outage", New: "operational"}}}
	if err := s.AddIncidentUpdate(ctx, id, resolved); err != nil {
		t.Fatal(err)
	}
	if err := s.AddIncidentUpdate(ctx, id+1000, store.IncidentUpdate{Status: "resolved", Body: "x", Author: "bob", At: t0}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of an unknown incident: %v", err)
	}
	list, err := s.Incidents(ctx, t0.Add(-time.Hour), 100)
	if err != nil || len(list) != 1 {
		t.Fatalf("incidents: %v %+v", err, list)
	}
	in := list[0]
	if in.Status != "resolved" || in.ResolvedAt == nil || !in.ResolvedAt.Equal(t0.Add(3*time.Minute)) || len(in.Updates) != 3 ||
		in.Updates[0].Body != "rolled back" || in.Updates[2].Author != "nines" || in.Component != "API" || in.Impact != "major" ||
		!in.UpdatedAt.Equal(t0.Add(3*time.Minute)) {
		t.Fatalf("incident: %+v", in)
	}
	// Each update keeps the components it touched as they were then.
	if fmt.Sprint(in.Updates[0].Affected) != fmt.Sprint(resolved.Affected) || in.Updates[1].Affected != nil ||
		fmt.Sprint(in.Updates[2].Affected) != fmt.Sprint(opening.Affected) {
		t.Fatalf("affected components: %+v", in.Updates)
	}
	if _, open, _ := s.IncidentForAlert(ctx, "down/api", 1); open {
		t.Fatal("a resolved incident is still open")
	}
	if later, _ := s.Incidents(ctx, t0.Add(time.Hour), 100); len(later) != 0 {
		t.Fatalf("resolved incidents started before since: %+v", later)
	}
	// One incident by its id, however old: the page feeds link to.
	if one, err := s.IncidentByID(ctx, id); err != nil || one == nil || one.Title != "api down" || len(one.Updates) != 3 || one.Updates[0].Status != "resolved" {
		t.Fatalf("incident %d: %+v %v", id, one, err)
	}
	if none, err := s.IncidentByID(ctx, id+1000); none != nil || err != nil {
		t.Fatalf("no such incident: %+v %v", none, err)
	}
	// Within a limit, an incident open now comes first however long ago
	// it started; the rest are the newest; all come newest first.
	if _, _, err := s.OpenIncident(ctx, store.IncidentOpening{AlertKey: "down/old", AlertSeq: 1, Components: []string{"API"}, Title: "old and open",
		Impact: "minor", At: t0.Add(-48 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		at := t0.Add(time.Duration(10+i) * time.Minute)
		nid, _, err := s.OpenIncident(ctx, store.IncidentOpening{AlertKey: fmt.Sprintf("down/n%d", i), AlertSeq: 1, Components: []string{"API"},
			Title: fmt.Sprintf("n%d", i), Impact: "minor", At: at})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AddIncidentUpdate(ctx, nid, store.IncidentUpdate{Status: "resolved", Body: "ok", Author: "nines", At: at.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	var titles []string
	got, err := s.Incidents(ctx, t0.Add(-time.Hour), 2)
	for _, in := range got {
		titles = append(titles, in.Title)
	}
	if err != nil || strings.Join(titles, ",") != "n2,old and open" {
		t.Fatalf("two incidents: %v %v, want n2 and the open one", titles, err)
	}
	if all, _ := s.Incidents(ctx, t0.Add(-time.Hour), 0); len(all) != 1 {
		t.Fatalf("a limit of 0 read %d incidents, want 1", len(all))
	}
	if all, _ := s.Incidents(ctx, t0.Add(-time.Hour), store.MaxIncidents+1); len(all) != 5 {
		t.Fatalf("read %d incidents, want all 5", len(all))
	}
}

// An announced maintenance window keeps the time it was first shown,
// however often it is announced again, and across a reopen.
func announcements(t *testing.T, open func() (store.Store, error)) {
	ctx := context.Background()
	s := mustOpen(t, open)
	got, err := s.Announce(ctx, []string{"db-upgrade"}, t0)
	if err != nil || len(got) != 1 || !got["db-upgrade"].Equal(t0) {
		t.Fatalf("first announcement: %v %v", got, err)
	}
	got, err = s.Announce(ctx, []string{"db-upgrade", "cdn-move"}, t0.Add(time.Hour))
	if err != nil || !got["db-upgrade"].Equal(t0) || !got["cdn-move"].Equal(t0.Add(time.Hour)) {
		t.Fatalf("announced again with another: %v %v", got, err)
	}
	if read, err := s.Announce(ctx, []string{"cdn-move", "never"}, time.Time{}); err != nil || len(read) != 1 || !read["cdn-move"].Equal(t0.Add(time.Hour)) {
		t.Fatalf("read only: %v %v", read, err)
	}
	if none, err := s.Announce(ctx, nil, t0); err != nil || len(none) != 0 {
		t.Fatalf("nothing announced: %v %v", none, err)
	}
	s.Close()
	s = mustOpen(t, open)
	if got, err := s.Announce(ctx, []string{"db-upgrade"}, t0.Add(2*time.Hour)); err != nil || !got["db-upgrade"].Equal(t0) {
		t.Fatalf("after a reopen: %v %v", got, err)
	}
}

func heartbeats(t *testing.T, open func() (store.Store, error)) {
	ctx := context.Background()
	s := mustOpen(t, open)
	p := store.Probe{ID: "london-1", Region: "eu-london", Version: "1.0", StartedAt: t0, LastHeartbeat: t0.Add(time.Minute),
		SpoolDepth: 3, ClockSkew: 40 * time.Millisecond, FirstSeen: t0.Add(time.Minute), Capabilities: []string{model.CapabilityBrowser}}
	if err := s.SaveProbe(ctx, p); err != nil {
		t.Fatal(err)
	}
	stale := p
	stale.LastHeartbeat, stale.SpoolDepth = t0, 99
	if err := s.SaveProbe(ctx, stale); err != nil {
		t.Fatal(err)
	}
	// Another replica that first heard the probe earlier: the earliest
	// first sighting is kept, whatever the order of the writes.
	earlier := p
	earlier.FirstSeen = t0.Add(-time.Hour)
	if err := s.SaveProbe(ctx, earlier); err != nil {
		t.Fatal(err)
	}
	p.FirstSeen = earlier.FirstSeen
	if err := s.SaveProbe(ctx, store.Probe{ID: "london-1", Region: "eu-london", Version: "1.0", StartedAt: t0, LastHeartbeat: t0.Add(time.Minute),
		SpoolDepth: 3, ClockSkew: 40 * time.Millisecond, FirstSeen: t0, Capabilities: []string{model.CapabilityBrowser}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveProbe(ctx, store.Probe{ID: "tokyo-1", Region: "ap-tokyo", StartedAt: t0, LastHeartbeat: t0.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Probes(ctx, t0.Add(-time.Minute))
	if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], p) {
		t.Fatalf("probes: %v\n got %+v\nwant %+v", err, got, p)
	}
	all, _ := s.Probes(ctx, time.Time{})
	if len(all) != 2 {
		t.Fatalf("all probes: %+v", all)
	}
	if err := s.ForgetProbe(ctx, "london-1", "ap-tokyo"); err != nil {
		t.Fatal(err)
	}
	if err := s.ForgetProbe(ctx, "london-1", "eu-london"); err != nil {
		t.Fatal(err)
	}
	if left, _ := s.Probes(ctx, time.Time{}); len(left) != 1 || left[0].ID != "tokyo-1" {
		t.Fatalf("after forgetting london-1 (once with a wrong region): %+v", left)
	}
}

func sessions(t *testing.T, open func() (store.Store, error)) {
	ctx := context.Background()
	s := mustOpen(t, open)
	alice := store.Session{User: "alice", CSRF: "c1", Expires: t0.Add(time.Hour)}
	if err := s.PutSession(ctx, "k1", alice); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSession(ctx, "k2", store.Session{User: "bob", CSRF: "c2", Expires: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Session(ctx, "k1", t0); err != nil || got == nil || *got != alice {
		t.Fatalf("session k1: %+v %v", got, err)
	}
	if got, err := s.Session(ctx, "k2", t0.Add(2*time.Minute)); err != nil || got != nil {
		t.Fatalf("an expired session: %+v %v", got, err)
	}
	if got, err := s.Session(ctx, "nope", t0); err != nil || got != nil {
		t.Fatalf("an unknown session: %+v %v", got, err)
	}
	if n, err := s.PruneSessions(ctx, t0.Add(2*time.Minute)); err != nil || n != 1 {
		t.Fatalf("pruned %d sessions (%v), want bob's", n, err)
	}
	if err := s.DeleteSession(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Session(ctx, "k1", t0); got != nil {
		t.Fatalf("a signed-out session: %+v", got)
	}
}

// regionHealth: health spans widen, overlap across replicas, survive a
// reopen and are pruned; a result the probe marked as cut off keeps the mark
// and is a probe problem for slicing.
func regionHealth(t *testing.T, open func() (store.Store, error)) {
	ctx := context.Background()
	s := mustOpen(t, open)
	spans := []store.HealthSpan{
		{Region: "eu-london", From: t0, To: t0.Add(time.Minute)},
		{Region: "eu-london", From: t0, To: t0.Add(30 * time.Second)}, // an older view of the same span
		{Region: "eu-london", From: t0.Add(time.Hour), To: t0.Add(time.Hour + time.Minute)},
		{Region: "ap-tokyo", From: t0.Add(-2 * time.Hour), To: t0.Add(-time.Hour)},
	}
	for _, sp := range spans {
		if err := s.PutHealth(ctx, sp); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Health(ctx, t0)
	if err != nil || len(got) != 2 || got[0].Region != "eu-london" || !got[0].To.Equal(t0.Add(time.Minute)) || !got[1].From.Equal(t0.Add(time.Hour)) {
		t.Fatalf("health since t0: %v %+v", err, got)
	}
	if n, err := s.PruneHealth(ctx, t0.Add(2*time.Minute)); err != nil || n != 2 {
		t.Fatalf("pruned %d spans: %v", n, err)
	}
	if all, _ := s.Health(ctx, time.Time{}); len(all) != 1 {
		t.Fatalf("after pruning: %+v", all)
	}

	// The kinds' facts come back as they went in.
	dnsResult := Result("dns", "eu-london", t0, model.OutcomeUp)
	dnsResult.DNS = &model.DNSFacts{RCode: "NOERROR", Answers: []string{"192.0.2.10", "192.0.2.11"}}
	flowResult := Result("flow", "eu-london", t0, model.OutcomeDegraded)
	flowResult.Flow = &model.FlowFacts{Level: "cached", StepsMS: map[string]float64{"segments": 301.5, "content": 2.25}}
	tlsResult := Result("tls", "eu-london", t0, model.OutcomeUp)
	expiry := t0.Add(4*24*time.Hour + time.Hour)
	tlsResult.CertExpiry = &expiry
	asked := Result("asked", "eu-london", t0, model.OutcomeDown)
	asked.OnDemand = true
	if _, err := s.InsertResults(ctx, []model.Result{dnsResult, flowResult, tlsResult, asked}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Results(ctx, store.Query{Check: "asked", Since: t0}); len(got) != 1 || !got[0].OnDemand {
		t.Fatalf("an on-demand run comes back as one: %+v", got)
	}
	if got, _ := s.Results(ctx, store.Query{Check: "dns", Since: t0}); len(got) != 1 || got[0].OnDemand {
		t.Fatalf("a scheduled run comes back on demand: %+v", got)
	}
	for _, want := range []model.Result{dnsResult, flowResult, tlsResult} {
		got, err := s.Results(ctx, store.Query{Check: want.Check, Since: t0})
		if err != nil || len(got) != 1 {
			t.Fatalf("%s: %v %+v", want.Check, err, got)
		}
		g := got[0]
		if fmt.Sprint(g.DNS) != fmt.Sprint(want.DNS) || fmt.Sprint(g.Flow) != fmt.Sprint(want.Flow) || g.Edge != nil {
			t.Fatalf("%s facts: dns %+v flow %+v edge %+v", want.Check, g.DNS, g.Flow, g.Edge)
		}
		if want.Check == "tls" && (g.CertDaysLeft == nil || *g.CertDaysLeft != 4) {
			t.Fatalf("tls cert_days_left %v", g.CertDaysLeft)
		}
	}

	cut := Result("api", "eu-london", t0, model.OutcomeDown)
	cut.ProbeIsolated = true
	plain := Result("api", "ap-tokyo", t0, model.OutcomeDown)
	if _, err := s.InsertResults(ctx, []model.Result{cut, plain}); err != nil {
		t.Fatal(err)
	}
	rs, err := s.Results(ctx, store.Query{Check: "api", Since: t0})
	if err != nil || len(rs) != 2 {
		t.Fatalf("results: %v %+v", err, rs)
	}
	for _, r := range rs {
		if r.Outcome != model.OutcomeDown || r.ProbeIsolated != (r.Region == "eu-london") {
			t.Fatalf("result %s: outcome %s, probe_isolated %v", r.Region, r.Outcome, r.ProbeIsolated)
		}
	}
	outs, err := s.Outcomes(ctx, "api", t0, t0.Add(time.Minute))
	if err != nil || len(outs) != 2 {
		t.Fatalf("outcomes: %v %+v", err, outs)
	}
	for _, o := range outs {
		if o.Outcome != model.OutcomeDown || o.ProbeProblem != (o.Region == "eu-london") {
			t.Fatalf("outcome %+v", o)
		}
	}
}

// Regions are the seven regions of a production fleet.
var Regions = []string{"ca-central", "us-ohio", "us-oregon", "ap-sydney", "ap-tokyo", "eu-frankfurt", "eu-london"}

// Day calls put with a day's results of checks checks in every region of
// Regions, one a minute each, in batches of at most 5,000: latencies and
// phases that vary as a loopback target's do, scheduled a few hundred
// milliseconds past the minute, and one result in 500 down with a message.
// It is what a benchmark of storage per result stores.
func Day(checks int, day time.Time, put func([]model.Result) error) error {
	batch := make([]model.Result, 0, 5000)
	seed := uint64(1)
	next := func(n int64) int64 { // xorshift: the same day every run
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		return int64(seed % uint64(n))
	}
	for m := range 1440 {
		for c := range checks {
			for _, region := range Regions {
				at := day.Add(time.Duration(m)*time.Minute + time.Duration(c*60000/checks)*time.Millisecond)
				dur := 8000 + next(40000)
				r := model.Result{Check: fmt.Sprintf("check-%05d", c), Region: region, Probe: region + "-1", ConfigVersion: "3f9a0c1e2b7d",
					Scheduled: at, Started: at.Add(time.Duration(next(4)) * time.Millisecond), DurationUS: dur, Outcome: model.OutcomeUp,
					HTTPStatus: 200, Bytes: 512 + next(64),
					Phases: model.Phases{DNS: next(900), Connect: 1000 + next(3000), TLS: 3000 + next(8000), TTFB: dur / 2, Transfer: next(500)}}
				if next(500) == 0 {
					r.Outcome, r.HTTPStatus, r.ErrorClass, r.Message = model.OutcomeDown, 503, model.ErrStatus, "status 503 is not 2xx or 3xx"
				}
				batch = append(batch, r)
				if len(batch) == cap(batch) {
					if err := put(batch); err != nil {
						return err
					}
					batch = batch[:0]
				}
			}
		}
	}
	if len(batch) > 0 {
		return put(batch)
	}
	return nil
}

// subscribers: double opt-in. A new address is unconfirmed; subscribing
// it again before it confirms renews its token and components; once
// confirmed, a subscription by someone else changes nothing; the token
// confirms and unsubscribes, and the SRE removes by id.
func subscribers(t *testing.T, open func() (store.Store, error)) {
	ctx := context.Background()
	s := mustOpen(t, open)
	sub, err := s.Subscribe(ctx, store.Subscriber{Kind: "email", Address: "ann@example.com", Token: "token-1", CreatedAt: t0})
	if err != nil || sub.ID == 0 || sub.ConfirmedAt != nil || len(sub.Components) != 0 || sub.Components == nil {
		t.Fatalf("subscribe: %+v %v", sub, err)
	}
	// A pending subscription holds its address for a day: a second
	// request changes nothing (its owner's link still works)...
	if held, err := s.Subscribe(ctx, store.Subscriber{Kind: "email", Address: "ann@example.com", Components: []string{"cdn"}, Token: "token-x",
		CreatedAt: t0.Add(time.Hour)}); err != nil || held.Token != "token-1" || len(held.Components) != 0 {
		t.Fatalf("a pending address taken over within the day: %+v %v", held, err)
	}
	// ...and one never confirmed is renewed after it.
	later := t0.Add(store.PendingFor)
	again, err := s.Subscribe(ctx, store.Subscriber{Kind: "email", Address: "ann@example.com", Components: []string{"api"}, Token: "token-2", CreatedAt: later})
	if err != nil || again.ID != sub.ID || again.Token != "token-2" || len(again.Components) != 1 || !again.CreatedAt.Equal(later) {
		t.Fatalf("subscribe again unconfirmed after a day: %+v %v", again, err)
	}
	if none, err := s.ConfirmSubscriber(ctx, "token-1", t0); none != nil || err != nil {
		t.Fatalf("the first link after a renewal: %+v %v", none, err)
	}
	got, err := s.ConfirmSubscriber(ctx, "token-2", t0.Add(time.Minute))
	if err != nil || got == nil || got.ConfirmedAt == nil || !got.ConfirmedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("confirm: %+v %v", got, err)
	}
	if got, _ := s.ConfirmSubscriber(ctx, "token-2", t0.Add(time.Hour)); got == nil || !got.ConfirmedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("confirming twice moves the time: %+v", got)
	}
	// Someone subscribes a confirmed address: nothing changes.
	if other, err := s.Subscribe(ctx, store.Subscriber{Kind: "email", Address: "ann@example.com", Components: []string{"cdn"}, Token: "token-3", CreatedAt: t0}); err != nil ||
		other.Token != "token-2" || other.Components[0] != "api" || other.ConfirmedAt == nil {
		t.Fatalf("subscribing a confirmed address: %+v %v", other, err)
	}
	hook, err := s.Subscribe(ctx, store.Subscriber{Kind: "webhook", Address: "https://ops.example.com/status", Token: "token-h", CreatedAt: t0})
	if err != nil || hook.ID == sub.ID {
		t.Fatalf("webhook: %+v %v", hook, err)
	}
	list, err := s.Subscribers(ctx)
	if err != nil || len(list) != 2 || list[0].Address != "ann@example.com" || list[1].Kind != "webhook" {
		t.Fatalf("subscribers: %+v %v", list, err)
	}
	if ok, err := s.Unsubscribe(ctx, "token-2", 0); !ok || err != nil {
		t.Fatalf("unsubscribe by token: %v %v", ok, err)
	}
	if ok, _ := s.Unsubscribe(ctx, "token-2", 0); ok {
		t.Fatal("unsubscribed twice")
	}
	if ok, err := s.Unsubscribe(ctx, "", hook.ID); !ok || err != nil {
		t.Fatalf("remove by id: %v %v", ok, err)
	}
	if list, _ := s.Subscribers(ctx); len(list) != 0 {
		t.Fatalf("left: %+v", list)
	}
	// Status page notifications are queued once per event and subscriber.
	notes := []alerting.Notification{
		{Notifier: "subscriber:1", Message: alerting.Message{AlertKey: "status:incident-1", Summary: "API errors", At: t0}, CreatedAt: t0, NextAt: t0},
		{Notifier: "subscriber:2", Message: alerting.Message{AlertKey: "status:incident-1", Summary: "API errors", At: t0}, CreatedAt: t0, NextAt: t0},
	}
	if n, err := s.EnqueueNotifications(ctx, "status:incident-1", notes); n != 2 || err != nil {
		t.Fatalf("enqueue: %d %v", n, err)
	}
	if n, err := s.EnqueueNotifications(ctx, "status:incident-1", notes); n != 0 || err != nil {
		t.Fatalf("enqueue again: %d %v", n, err)
	}
	due, err := s.DueNotifications(ctx, t0.Add(time.Minute), 10, 10)
	if err != nil || len(due) != 2 || due[0].Message.Summary != "API errors" {
		t.Fatalf("due: %+v %v", due, err)
	}
	// Every subscriber is on one delivery lane: at most perLane of them
	// are due at once, and another lane's notification is due beside them.
	page := &alerting.Alert{Key: "group:page", State: alerting.StateFiring, PendingSince: t0}
	pageNote := alerting.Notification{Notifier: "pd", CreatedAt: t0, NextAt: t0, Message: alerting.Message{AlertKey: page.Key, Action: alerting.ActionTrigger}}
	if err := s.SaveAlert(ctx, page, []alerting.Notification{pageNote}, t0); err != nil {
		t.Fatal(err)
	}
	due, err = s.DueNotifications(ctx, t0.Add(time.Minute), 1, 10)
	if err != nil || len(due) != 2 || due[0].Notifier != "subscriber:1" || due[1].Notifier != "pd" {
		t.Fatalf("due, one per lane: %+v %v", due, err)
	}
}

// screenshots: each check keeps its newest few, listed newest first
// without their images; a resent one changes nothing.
func screenshots(t *testing.T, open func() (store.Store, error)) {
	ctx := context.Background()
	s := mustOpen(t, open)
	for i := range store.KeptScreenshots + 5 {
		for _, check := range []string{"home", "docs"} {
			sh := store.Screenshot{Check: check, Region: "eu-london", Scheduled: t0.Add(time.Duration(i) * time.Minute),
				Message: fmt.Sprintf("step 2 (expect_text): run %d", i), Image: []byte{0xff, 0xd8, byte(i)}}
			if err := s.PutScreenshot(ctx, sh); err != nil {
				t.Fatal(err)
			}
			if i == 3 {
				sh.Image = []byte("resent")
				if err := s.PutScreenshot(ctx, sh); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	list, err := s.Screenshots(ctx, "home")
	if err != nil || len(list) != store.KeptScreenshots {
		t.Fatalf("kept %d (%v), want %d", len(list), err, store.KeptScreenshots)
	}
	newest := t0.Add(time.Duration(store.KeptScreenshots+4) * time.Minute)
	if !list[0].Scheduled.Equal(newest) || list[0].Image != nil || list[0].Message != fmt.Sprintf("step 2 (expect_text): run %d", store.KeptScreenshots+4) {
		t.Fatalf("newest %+v", list[0])
	}
	if img, err := s.ScreenshotImage(ctx, "home", "eu-london", newest); err != nil || !bytes.Equal(img, []byte{0xff, 0xd8, byte(store.KeptScreenshots + 4)}) {
		t.Fatalf("image %v %v", img, err)
	}
	if img, err := s.ScreenshotImage(ctx, "home", "eu-london", t0); err != nil || img != nil {
		t.Fatalf("a screenshot past the kept: %v %v", img, err)
	}
	if docs, _ := s.Screenshots(ctx, "docs"); len(docs) != store.KeptScreenshots {
		t.Fatalf("another check's: %d", len(docs))
	}
}
