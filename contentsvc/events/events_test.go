package events

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

func render(id, level, country string, at time.Time) Event {
	return Event{ID: id, Type: TypeRender, At: at, Country: country, SDK: "contentsvc-js/1.0.0", Render: &Render{Level: level, DurationMS: 12}}
}

func TestValidateNamesTheField(t *testing.T) {
	ok := render("ev-00000001", "fresh", "GB", t0)
	if err := ok.Validate(t0); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mutate func(*Event)
		want   string
	}{
		{func(e *Event) { e.ID = "short" }, `id: "short" is not 8 to 64`},
		{func(e *Event) { e.At = time.Time{} }, "at: missing"},
		{func(e *Event) { e.At = t0.Add(25 * time.Hour) }, "at: 2026-12-07T11:00:00Z is more than 24h0m0s from now"},
		{func(e *Event) { e.Country = "gb" }, `country: "gb" is not an ISO 3166 alpha-2 code`},
		{func(e *Event) { e.Render.Level = "stale" }, `render.level: "stale" is not one of fresh, cached, default, empty`},
		{func(e *Event) { e.Render.DurationMS = -1 }, "render.duration_ms: -1"},
		{func(e *Event) { e.Type = "click" }, `type: "click" is not render, impression or error`},
		{func(e *Event) { e.Error = &Error{Message: "x"} }, "type: an event carries one of render, impression and error"},
		{func(e *Event) { e.Type, e.Render, e.Error = TypeError, nil, &Error{Stack: "x"} }, "error.message: missing"},
		{func(e *Event) {
			e.Type, e.Render, e.Error = TypeError, nil, &Error{Message: "x", Stack: strings.Repeat("s", 9000)}
		}, "error.stack: longer than 8192"},
	} {
		e := ok
		r := *ok.Render
		e.Render = &r
		tc.mutate(&e)
		if err := e.Validate(t0); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want %q, got %v", tc.want, err)
		}
	}
}

// The same cause groups under one fingerprint whatever its numbers,
// quoted values, script origins, lines and columns; another cause does
// not.
func TestFingerprint(t *testing.T) {
	a, frames := Fingerprint(`Cannot read properties of undefined (reading "title") at item 3`,
		"TypeError: Cannot read\n    at renderCard (https://cdn.example.com/sdk/v1/contentsvc-1.0.0.js?v=3:120:17)\n    at boundary (https://cdn.example.com/sdk/v1/contentsvc-1.0.0.js:88:5)\n    at render (https://cdn.example.com/sdk/v1/contentsvc-1.0.0.js:300:9)\n    at main (https://app.example.com/app.js:1:1)")
	b, _ := Fingerprint(`Cannot read properties of undefined (reading "body") at item 17`,
		"TypeError: Cannot read\n    at renderCard (https://cdn2.example.net/sdk/v1/contentsvc-1.0.0.js:121:3)\n    at boundary (https://cdn2.example.net/sdk/v1/contentsvc-1.0.0.js:89:5)\n    at render (https://cdn2.example.net/sdk/v1/contentsvc-1.0.0.js:301:9)")
	c, _ := Fingerprint(`Cannot read properties of undefined (reading "title") at item 3`, "TypeError\n    at other (x.js:1:1)")
	if a != b || a == c || len(frames) != 3 || frames[0] != "renderCard (/sdk/v1/contentsvc-1.0.0.js" || frames[2] != "render (/sdk/v1/contentsvc-1.0.0.js" {
		t.Fatalf("a %s b %s c %s frames %q", a, b, c, frames)
	}
}

// Events published survive the process: the queue reopened hands them
// over; a batch whose handling fails is handed again; an event seen
// twice (a client's retry) is processed once.
func TestQueueAndConsumerProcessEachEventOnce(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	q, err := OpenFileQueue(ctx, filepath.Join(dir, "queue.db"))
	if err != nil {
		t.Fatal(err)
	}
	batch := []Event{render("ev-00000001", "fresh", "GB", t0), render("ev-00000002", "empty", "GB", t0.Add(30*time.Second)),
		render("ev-00000003", "cached", "DE", t0.Add(time.Minute))}
	if err := q.Publish(ctx, batch); err != nil {
		t.Fatal(err)
	}
	// The client did not hear the answer and sent the batch again.
	if err := q.Publish(ctx, batch[:2]); err != nil {
		t.Fatal(err)
	}
	errEv := Event{ID: "ev-00000004", Type: TypeError, At: t0, SDK: "contentsvc-js/1.0.0",
		Error: &Error{Message: "boom 1", Stack: "Error: boom\n at a (x.js:1:1)", Browser: "Chrome/131"}}
	errEv2 := errEv
	errEv2.ID, errEv2.Error = "ev-00000005", &Error{Message: "boom 2", Stack: "Error: boom\n at a (x.js:9:9)", Browser: "Chrome/131"}
	if err := q.Publish(ctx, []Event{errEv, errEv2}); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q, err = OpenFileQueue(ctx, filepath.Join(dir, "queue.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if n, err := q.Depth(ctx); err != nil || n != 7 {
		t.Fatalf("depth after reopening: %d %v", n, err)
	}
	q.poll = 10 * time.Millisecond
	st, err := OpenStore(ctx, filepath.Join(dir, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var mu sync.Mutex
	var outcomes []Outcome
	failOnce := true
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- q.Consume(cctx, func(ctx context.Context, evs []Event) error {
			mu.Lock()
			defer mu.Unlock()
			if failOnce { // the consumer's database was busy
				failOnce = false
				return errors.New("database is locked")
			}
			out, err := st.Process(ctx, evs, t0)
			outcomes = append(outcomes, out)
			if len(outcomes) == 3 {
				cancel()
			}
			return err
		})
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The third batch was processed but the consumer stopped before it
	// was acknowledged (as if killed): it is handed again, and changes
	// nothing.
	if n, _ := q.Depth(ctx); n != 2 {
		t.Fatalf("%d events left in the queue, want the unacknowledged 2", n)
	}
	cctx, cancel = context.WithCancel(ctx)
	go func() {
		done <- q.Consume(cctx, func(ctx context.Context, evs []Event) error {
			mu.Lock()
			defer mu.Unlock()
			out, err := st.Process(ctx, evs, t0)
			outcomes = append(outcomes, out)
			return err
		})
	}()
	for i := 0; ; i++ {
		if n, _ := q.Depth(ctx); n == 0 {
			break
		}
		if i == 1000 {
			t.Fatal("the queue was not drained in 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(outcomes) != 4 || len(outcomes[0].New) != 3 || outcomes[1].Duplicates != 2 || len(outcomes[1].New) != 0 ||
		len(outcomes[2].NewGroups) != 1 || outcomes[3].Duplicates != 2 || len(outcomes[3].NewGroups) != 0 {
		t.Fatalf("outcomes: %+v", outcomes)
	}
	got, err := st.Processed(ctx)
	if err != nil || got[TypeRender] != 3 || got[TypeError] != 2 {
		t.Fatalf("processed: %v %v", got, err)
	}
	rs, err := st.Renders(ctx, t0, t0.Add(time.Hour), "")
	if err != nil || fmt.Sprint(rs) != fmt.Sprint([]RenderCounts{{t0, 1, 2}, {t0.Add(time.Minute), 1, 1}}) {
		t.Fatalf("renders: %+v %v", rs, err)
	}
	if rs, _ := st.Renders(ctx, t0, t0.Add(time.Hour), "DE"); len(rs) != 1 || rs[0].Valid != 1 {
		t.Fatalf("renders in DE: %+v", rs)
	}
	gs, err := st.ErrorGroups(ctx)
	if err != nil || len(gs) != 1 || gs[0].Count != 2 || gs[0].Message != "boom 1" || gs[0].Browser != "Chrome/131" {
		t.Fatalf("error groups: %+v %v", gs, err)
	}
}
