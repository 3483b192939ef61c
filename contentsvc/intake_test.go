package contentsvc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/contentsvc/events"
	"github.com/nines-sre/nines/internal/testwait"
	"github.com/nines-sre/nines/model"
)

// metricValue reads one series' value from /metrics.
func metricValue(t *testing.T, base, series string) string {
	t.Helper()
	_, body := get(t, base+"/metrics", "")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

// consuming is a service on a directory of the test's whose event
// consumer runs until the test ends, on the clock now (nil: the real
// one).
func consuming(t *testing.T, now func() time.Time) *Service {
	t.Helper()
	s, err := New(Options{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if now != nil {
		s.now = now
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Consume(ctx) }()
	t.Cleanup(func() { cancel(); <-done; s.Close() })
	return s
}

// drained waits until the consumer has taken every queued batch.
func drained(t *testing.T, s *Service, what string) {
	t.Helper()
	testwait.Eventually(t, 30*time.Second, what, func() error {
		if n, _ := s.queue.Depth(context.Background()); n != 0 {
			return fmt.Errorf("%d queued", n)
		}
		return nil
	})
}

// The intake takes a batch event by event, refusing (and naming) what
// is wrong; the consumer processes each event once whatever how often
// it is sent; renders are counted by the level that served.
func TestEventIntake(t *testing.T) {
	// A clock that stands still: the limit's tokens come back only as it
	// moves, whatever the machine's speed.
	fixed := time.Now()
	s := consuming(t, func() time.Time { return fixed })
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)

	now := time.Now().UTC().Format(time.RFC3339Nano)
	ev := func(id, level string) string {
		return fmt.Sprintf(`{"id":%q,"type":"render","at":%q,"country":"GB","sdk":"contentsvc-js/1.0.0","render":{"level":%q,"duration_ms":14}}`, id, now, level)
	}
	batch := `{"key":"acme-notes","events":[` + ev("ev-a0000001", "fresh") + `,` + ev("ev-a0000002", "cached") + `,` + ev("ev-a0000003", "empty") +
		`,{"id":"ev-a0000004","type":"render","at":"` + now + `","render":{"level":"stale"}},` +
		`{"id":"ev-a0000005","type":"error","at":"` + now + `","error":{"message":"boom","stack":"Error: boom\n at f (x.js:1:1)"}}]}`
	for range 2 { // sent twice: the SDK did not hear the first answer
		code, body := send(t, "POST", srv.URL+"/v1/events", batch)
		if code != http.StatusAccepted || !strings.Contains(body, `"accepted":4`) ||
			!strings.Contains(body, `{"index":3,"error":"events[3].render.level: \"stale\" is not one of fresh, cached, default, empty"}`) {
			t.Fatalf("%d %s", code, body)
		}
	}
	drained(t, s, "the batches processed")
	for series, want := range map[string]string{
		`contentsvc_events_received_total{type="render"}`:  "6",
		`contentsvc_events_processed_total{type="render"}`: "3",
		`contentsvc_events_processed_total{type="error"}`:  "1",
		"contentsvc_events_duplicates_total":               "4",
		"contentsvc_events_refused_total":                  "2",
		`contentsvc_renders_total{level="fresh"}`:          "1",
		`contentsvc_renders_total{level="default"}`:        "0",
		"contentsvc_error_groups_total":                    "1",
	} {
		if got := metricValue(t, srv.URL, series); got != want {
			t.Errorf("%s = %q, want %s", series, got, want)
		}
	}
	var totals struct {
		Processed   map[string]int `json:"processed"`
		Queued      int            `json:"queued"`
		ErrorGroups []struct {
			Message string `json:"message"`
			Count   int    `json:"count"`
		} `json:"error_groups"`
	}
	if _, body := get(t, srv.URL+"/admin/events", ""); json.Unmarshal([]byte(body), &totals) != nil || totals.Processed["render"] != 3 ||
		totals.Queued != 0 || len(totals.ErrorGroups) != 1 || totals.ErrorGroups[0].Message != "boom" {
		t.Fatalf("/admin/events: %s", body)
	}
	rs, err := s.evstore.Renders(context.Background(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "GB")
	if err != nil || len(rs) != 1 || rs[0].Good != 2 || rs[0].Valid != 3 {
		t.Fatalf("renders: %+v %v", rs, err)
	}
	// The errors for review, as a page: what a page sent is shown as text.
	hostile := `{"key":"acme-notes","events":[{"id":"ev-x0000001","type":"error","at":"` + now + `","sdk":"contentsvc-js/1.1.0",` +
		`"error":{"message":"<img src=x onerror=alert(1)>","stack":"Error\n at f (<script>x.js:1:1)","component":"component promo","browser":"Chrome/131"}}]}`
	if code, body := send(t, "POST", srv.URL+"/v1/events", hostile); code != http.StatusAccepted {
		t.Fatalf("%d %s", code, body)
	}
	testwait.Eventually(t, 30*time.Second, "the hostile error processed", func() error {
		if got := metricValue(t, srv.URL, "contentsvc_error_groups_total"); got != "2" {
			return fmt.Errorf("groups %s", got)
		}
		return nil
	})
	resp, page := get(t, srv.URL+"/admin/errors/review", "")
	if resp.StatusCode != 200 || strings.Count(page, "<tr data-fingerprint=") != 2 || strings.Contains(page, "<img src=x") || strings.Contains(page, "(<script>") ||
		!strings.Contains(page, "&lt;img src=x onerror=alert(1)&gt;") || !strings.Contains(page, "in component promo") ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("review page: %d %v\n%s", resp.StatusCode, resp.Header, page)
	}

	for _, tc := range []struct {
		body string
		code int
		want string
	}{
		{`not json`, 400, "body: not a batch of events"},
		{`{"key":"a b","events":[{}]}`, 400, "key: 1 to 64 letters"},
		{`{"key":"acme","events":[]}`, 400, "events: 1 to 100 in a batch, not 0"},
		{`{"key":"acme","events":[` + strings.Repeat(`{},`, 100) + `{}]}`, 400, "events: 1 to 100 in a batch, not 101"},
		{`{"key":"acme","events":["` + strings.Repeat("x", events.MaxBody) + `"]}`, 413, "body: more than 256 KiB"},
	} {
		if code, body := send(t, "POST", srv.URL+"/v1/events", tc.body); code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("want %d %q: %d %s", tc.code, tc.want, code, body)
		}
	}
	// One key's flood is cut off; another key is not.
	limited := 0
	for i := range intakeBurst + 10 {
		code, _ := send(t, "POST", srv.URL+"/v1/events", `{"key":"flood","events":[`+ev(fmt.Sprintf("ev-f%07d", i), "fresh")+`]}`)
		if code == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited != 10 {
		t.Errorf("%d of a flood of %d batches limited, want 10", limited, intakeBurst+10)
	}
	if code, body := send(t, "POST", srv.URL+"/v1/events", `{"key":"other","events":[`+ev("ev-o0000001", "fresh")+`]}`); code != http.StatusAccepted {
		t.Errorf("another key: %d %s", code, body)
	}
}

// Each closed minute's renders go to nines as good (fresh or cached) of
// valid counts; the minute still open does not.
func TestRendersPushedToNines(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Minute).Add(30 * time.Second)
	s := consuming(t, func() time.Time { return now })
	ctx := t.Context()
	var got model.EventCounts
	nines := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/sli/renders/key-0123456789abcdef" || json.NewDecoder(r.Body).Decode(&got) != nil {
			http.Error(w, "no", http.StatusBadRequest)
			return
		}
		w.Write([]byte(`{"stored":2}`))
	}))
	t.Cleanup(nines.Close)
	var evs []events.Event
	for i, l := range []string{"fresh", "cached", "default", "empty", "fresh"} { // two minutes ago, the last minute, now
		at := now.Add(-time.Duration(2-i/2) * time.Minute)
		evs = append(evs, events.Event{ID: fmt.Sprintf("ev-p%07d", i), Type: events.TypeRender, At: at, Render: &events.Render{Level: l}})
	}
	if err := s.queue.Publish(ctx, evs); err != nil {
		t.Fatal(err)
	}
	drained(t, s, "the renders processed")
	if err := s.pushOnce(ctx, http.DefaultClient, nines.URL+"/sli/renders/key-0123456789abcdef"); err != nil {
		t.Fatal(err)
	}
	m := now.Truncate(time.Minute)
	want := model.EventCounts{Counts: []model.MinuteEvents{{Minute: m.Add(-2 * time.Minute), Good: 2, Valid: 2}, {Minute: m.Add(-time.Minute), Good: 0, Valid: 2}}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("pushed %+v, want %+v", got, want)
	}
	if err := s.pushOnce(ctx, http.DefaultClient, nines.URL+"/sli/renders/wrong"); err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("a refused push: %v", err)
	}
}
