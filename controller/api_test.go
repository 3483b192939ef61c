package controller

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// Every error leaves the API in its one shape: a store failure is a 500
// whose cause goes to the log with the route, not to the client; an
// unknown route is a 404 in the same shape.
func TestErrorsHaveOneShapeAndFailuresAreLogged(t *testing.T) {
	var logs syncBuffer
	h := newHarnessAt(t, testConfig, t.TempDir(), &clock{t: time.Now().UTC()}, func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	h.c.store.Close() // every read of the store now fails

	resp, body := h.do("GET", "/api/v1/alerts", "", nil)
	var e apiError
	if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != http.StatusInternalServerError || e.Error == "" {
		t.Fatalf("store failure: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(e.Error, "sql") || strings.Contains(e.Error, "closed") {
		t.Errorf("the client is told the cause: %q", e.Error)
	}
	if l := logs.String(); !strings.Contains(l, "request failed") || !strings.Contains(l, "route=/api/v1/alerts") || !strings.Contains(l, "closed") {
		t.Errorf("no log of the failure with its route and cause:\n%s", l)
	}

	resp, body = h.do("GET", "/nothing-here", "", nil)
	if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != http.StatusNotFound || e.Error == "" {
		t.Fatalf("unknown route: %d %s", resp.StatusCode, body)
	}
}
