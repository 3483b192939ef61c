package sdk

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/nines-sre/nines/contentsvc/events"
)

// ReporterOptions configure a Reporter.
type ReporterOptions struct {
	BaseURL string // contentsvc: its intake, /v1/events
	Key     string // the application's client key
	HTTP    *http.Client
	// SDK names the sender (default "contentsvc-go/1").
	SDK string
	// MaxPending bounds the events kept while they cannot be sent
	// (default 10,000): the oldest go first.
	MaxPending int
}

// Reporter sends an application's events to contentsvc at least once:
// each event gets its id when it happens, and a batch that was not taken
// (no answer, 429, 5xx) is kept and sent again with the same ids, which
// the service counts once.
type Reporter struct {
	o ReporterOptions

	mu      sync.Mutex
	pending []events.Event
	dropped int
	posted  int // events in the batches posted, those sent again included
}

// NewReporter returns a reporter.
func NewReporter(o ReporterOptions) *Reporter {
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	if o.SDK == "" {
		o.SDK = "contentsvc-go/1"
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 10_000
	}
	return &Reporter{o: o}
}

// NewID is an event id: 16 random bytes, hex.
func NewID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Render queues a render's event: the level that served it and how long
// it took, for user in country (ISO 3166 alpha-2, "" when unknown).
func (r *Reporter) Render(user, country string, rd Render, took time.Duration, at time.Time) {
	seg := ""
	if len(rd.Segments) > 0 {
		seg = rd.Segments[len(rd.Segments)-1]
	}
	r.add(events.Event{ID: NewID(), Type: events.TypeRender, At: at.UTC(), User: user, Country: country, SDK: r.o.SDK,
		Render: &events.Render{Level: string(rd.Level), DurationMS: float64(took.Microseconds()) / 1000, Segment: seg}})
}

func (r *Reporter) add(e events.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending = append(r.pending, e)
	if over := len(r.pending) - r.o.MaxPending; over > 0 {
		r.pending = r.pending[over:]
		r.dropped += over
	}
}

// Posted is how many events the batches posted held, each time one was
// sent again included.
func (r *Reporter) Posted() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.posted
}

// Pending is how many events wait to be sent, and how many were dropped
// for want of room.
func (r *Reporter) Pending() (waiting, dropped int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending), r.dropped
}

// Flush sends what waits, a batch at a time, and keeps what was not
// taken for the next flush. It returns how many events were taken.
func (r *Reporter) Flush(ctx context.Context) (int, error) {
	sent := 0
	for {
		r.mu.Lock()
		n := min(len(r.pending), events.MaxBatch)
		batch := append([]events.Event(nil), r.pending[:n]...)
		r.mu.Unlock()
		if n == 0 {
			return sent, nil
		}
		if err := r.send(ctx, batch); err != nil {
			return sent, err
		}
		r.mu.Lock()
		// Events dropped meanwhile shift the queue: remove this batch by id.
		taken := make(map[string]bool, n)
		for _, e := range batch {
			taken[e.ID] = true
		}
		kept := r.pending[:0]
		for _, e := range r.pending {
			if !taken[e.ID] {
				kept = append(kept, e)
			}
		}
		r.pending = kept
		r.mu.Unlock()
		sent += n
	}
}

// send posts one batch; an error means it must be sent again. Events the
// intake refused as invalid are taken too: sending them again would not
// change the answer.
func (r *Reporter) send(ctx context.Context, batch []events.Event) error {
	body, err := json.Marshal(map[string]any{"key": r.o.Key, "events": batch})
	if err != nil {
		return fmt.Errorf("encode events: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.o.BaseURL+"/v1/events", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("send events: %w", err)
	}
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	r.mu.Lock()
	r.posted += len(batch)
	r.mu.Unlock()
	resp, err := r.o.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("send events: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusAccepted:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("send events: %s, to be sent again", resp.Status)
	}
	// A batch the intake cannot take as it is (400, 413): sending it
	// again would not help.
	return nil
}

// Run flushes every interval until ctx is done, then once more (within
// five seconds).
func (r *Reporter) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_, _ = r.Flush(final)
			cancel()
			return
		case <-t.C:
			_, _ = r.Flush(ctx)
		}
	}
}
