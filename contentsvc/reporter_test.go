package contentsvc

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nines-sre/nines/contentsvc/sdk"
	"github.com/nines-sre/nines/internal/testwait"
)

// The Go SDK's reporter sends every event at least once, and the service
// counts each once: a batch the service took whose answer was lost is
// sent again, and a batch refused for a while (503) is kept until taken.
func TestReporterCountsOnce(t *testing.T) {
	s := consuming(t, nil)
	h := s.Handler()
	var calls atomic.Int32
	// The network between: the first batch reaches the service but its
	// answer is lost; the second finds the service unavailable.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			h.ServeHTTP(httptest.NewRecorder(), r)
			http.Error(w, "upstream connection reset", http.StatusBadGateway)
		case 2:
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
		default:
			h.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)

	rep := sdk.NewReporter(sdk.ReporterOptions{BaseURL: srv.URL, Key: "acme-notes"})
	now := time.Now()
	for i := range 250 { // three batches
		rep.Render(fmt.Sprintf("user-%d", i%7), "GB", sdk.Render{Level: sdk.Fresh}, 20*time.Millisecond, now)
	}
	for i := 0; ; i++ {
		if _, err := rep.Flush(context.Background()); err == nil {
			break
		}
		if i == 5 {
			t.Fatal("the reporter never got its events taken")
		}
	}
	if waiting, dropped := rep.Pending(); waiting != 0 || dropped != 0 {
		t.Fatalf("pending %d, dropped %d", waiting, dropped)
	}
	testwait.Eventually(t, 30*time.Second, "every event counted", func() error {
		got, err := s.evstore.Processed(context.Background())
		if err != nil || got["render"] != 250 {
			return fmt.Errorf("%v %v", got, err)
		}
		return nil
	})
	if got := metricValue(t, srv.URL, "contentsvc_events_duplicates_total"); got != "100" {
		t.Fatalf("duplicates %s, want the 100 of the batch sent twice", got)
	}
}
