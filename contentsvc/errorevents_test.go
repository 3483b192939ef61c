package contentsvc

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nines-sre/nines/contentsvc/events"
	"github.com/nines-sre/nines/internal/testwait"
	"github.com/nines-sre/nines/model"
)

// Every new error fingerprint is told to nines once taken: while nines
// is away it waits, an event nines refuses for what it says is not sent
// again, and an error of a fingerprint already told tells nothing.
func TestNewFingerprintsAnnouncedToNines(t *testing.T) {
	s := consuming(t, nil)
	ctx := t.Context()
	var mu sync.Mutex
	away, posts := true, map[string][]model.AlertEvent{} // key → what nines took
	refused := 0
	nines := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e model.AlertEvent
		if r.URL.Path != "/events/new-errors/errors-key-0123456789" || json.NewDecoder(r.Body).Decode(&e) != nil {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case away:
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
		case strings.Contains(e.Summary, "refuse me"):
			refused++
			http.Error(w, `{"error":"summary: refused"}`, http.StatusBadRequest)
		default:
			posts[e.Key] = append(posts[e.Key], e)
			w.Write([]byte(`{"changed":true}`))
		}
	}))
	announced := make(chan struct{})
	go func() {
		defer close(announced)
		newAnnouncer(s, func() string { return nines.URL + "/events/new-errors/errors-key-0123456789" },
			"http://127.0.0.1:8081/admin/errors/review").run(ctx, 20*time.Millisecond)
	}()
	t.Cleanup(func() { nines.Close(); <-announced })

	at := time.Now().UTC()
	errEvent := func(id, message, frame string) events.Event {
		return events.Event{ID: id, Type: events.TypeError, At: at, SDK: "contentsvc-js/1.1.0",
			Error: &events.Error{Message: message, Stack: "Error: " + message + "\n    at " + frame + " (https://app.example/sdk.js:10:5)",
				Component: "promo", Browser: "Chrome/131"}}
	}
	publish := func(evs ...events.Event) {
		t.Helper()
		if err := s.queue.Publish(ctx, evs); err != nil {
			t.Fatal(err)
		}
		drained(t, s, "the errors processed")
	}
	publish(errEvent("ev-e0000001", `Unknown block type "carousel" in item 3`, "renderBlock"),
		errEvent("ev-e0000002", `Unknown block type "video" in item 17`, "renderBlock"), // the same fingerprint
		errEvent("ev-e0000003", "refuse me\x1b[31m", "other"))
	groups, _ := s.evstore.ErrorGroups(ctx)
	if len(groups) != 2 {
		t.Fatalf("error groups: %+v", groups)
	}
	// nines away: both wait.
	testwait.Eventually(t, 30*time.Second, "the announcements held back", func() error {
		if w, _ := s.evstore.Unannounced(ctx, 10); len(w) != 2 {
			return fmt.Errorf("%d waiting", len(w))
		}
		return nil
	})
	mu.Lock()
	away = false
	mu.Unlock()
	testwait.Eventually(t, 30*time.Second, "every new fingerprint announced", func() error {
		if w, _ := s.evstore.Unannounced(ctx, 10); len(w) != 0 {
			return fmt.Errorf("%d waiting", len(w))
		}
		return nil
	})
	// Another error of a fingerprint told: nothing waits to be told.
	publish(errEvent("ev-e0000004", `Unknown block type "map" in item 5`, "renderBlock"))
	if w, _ := s.evstore.Unannounced(ctx, 10); len(w) != 0 {
		t.Fatalf("a known fingerprint waits to be announced: %+v", w)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(posts) != 1 || refused != 1 {
		t.Fatalf("taken %+v, refused %d", posts, refused)
	}
	for key, es := range posts {
		e := es[0]
		if len(es) != 1 || !strings.HasPrefix(key, "error-") || e.Key != "error-"+e.Details["fingerprint"] ||
			e.Summary != `New error in real users' pages: Unknown block type "carousel" in item 3 (component promo)` ||
			e.Link != "http://127.0.0.1:8081/admin/errors/review" || e.Details["sdk"] != "contentsvc-js/1.1.0" || e.Details["top_frame"] != "renderBlock (/sdk.js" {
			t.Fatalf("announcement: %+v", es)
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("an announcement nines would refuse: %v", err)
		}
	}
}

func TestReviewURL(t *testing.T) {
	for addr, want := range map[string]string{"127.0.0.1:8081": "http://127.0.0.1:8081/admin/errors/review", "[::]:8081": "", "0.0.0.0:80": "",
		"[::1]:9": "http://[::1]:9/admin/errors/review"} {
		if got := reviewURL(addr); got != want {
			t.Errorf("%s: %q, want %q", addr, got, want)
		}
	}
}

// A storm of new fingerprints (or a client making errors up with the
// page's public key) is told one by one only up to the bound; the rest
// are told together, as one event counting them, until the storm is over.
func TestFingerprintStormToldTogether(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	s := consuming(t, func() time.Time { return now })
	ctx := t.Context()
	var mu sync.Mutex
	var got []model.AlertEvent
	nines := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e model.AlertEvent
		if err := json.NewDecoder(r.Body).Decode(&e); err != nil || e.Validate() != nil {
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
	}))
	t.Cleanup(nines.Close)
	a := newAnnouncer(s, func() string { return nines.URL + "/events/new-errors/k" }, "")
	n := 0
	errorsOf := func(count int) {
		t.Helper()
		var evs []events.Event
		for range count {
			n++
			fn := string(rune('a'+n%26)) + string(rune('a'+n/26))
			evs = append(evs, events.Event{ID: fmt.Sprintf("ev-s%07d", n), Type: events.TypeError, At: now, SDK: "contentsvc-js/1.1.0",
				Error: &events.Error{Message: "boom", Stack: "Error: boom\n    at render" + fn + " (sdk.js:1:1)"}})
		}
		if err := s.queue.Publish(ctx, evs); err != nil {
			t.Fatal(err)
		}
		drained(t, s, "the errors processed")
	}
	pass := func() []model.AlertEvent {
		t.Helper()
		mu.Lock()
		got = nil
		mu.Unlock()
		if err := a.pass(ctx); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		return got
	}
	errorsOf(23)
	if evs := pass(); len(evs) != announceBurst || evs[0].Key == floodKey {
		t.Fatalf("first pass: %d events", len(evs))
	}
	evs := pass()
	if len(evs) != 1 || evs[0].Key != floodKey || !strings.HasPrefix(evs[0].Summary, "3 new error fingerprints in real users' pages since 2026-12-06 10:00 UTC") {
		t.Fatalf("second pass: %+v", evs)
	}
	errorsOf(2)
	if evs := pass(); len(evs) != 1 || evs[0].Key != floodKey || !strings.HasPrefix(evs[0].Summary, "5 new error fingerprints") {
		t.Fatalf("the storm goes on: %+v", evs)
	}
	if w, _ := s.evstore.Unannounced(ctx, 100); len(w) != 0 {
		t.Fatalf("%d fingerprints still wait", len(w))
	}
	// A minute later one more is told on its own; twenty minutes after
	// that the storm is over.
	now = now.Add(time.Minute)
	errorsOf(2)
	if evs := pass(); len(evs) != 2 || evs[0].Key == floodKey || evs[1].Key != floodKey || !strings.HasPrefix(evs[1].Summary, "6 new error fingerprints") {
		t.Fatalf("a minute on: %+v", evs)
	}
	now = now.Add(announceBurst * announceEvery)
	errorsOf(1)
	if evs := pass(); len(evs) != 1 || evs[0].Key == floodKey {
		t.Fatalf("after the storm: %+v", evs)
	}
}
