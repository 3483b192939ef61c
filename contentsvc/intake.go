package contentsvc

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/nines-sre/nines/contentsvc/events"
)

// Bounds of the intake: each client key's batches a second, in bursts,
// and how many keys are tracked at once.
const (
	intakeRate  = 500
	intakeBurst = 1000
	maxKeys     = 10_000
)

var keyPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// batch is what an SDK sends to /v1/events (with sendBeacon, as
// text/plain: a simple cross-origin request).
type batch struct {
	Key    string            `json:"key"`
	Events []json.RawMessage `json:"events"`
}

// rejected is an event of a batch that was not taken, and why: the SDK
// drops it rather than sending it again.
type rejected struct {
	Index int    `json:"index"`
	Error string `json:"error"`
}

// limiters bounds each client key's batches.
type limiters struct {
	mu   sync.Mutex
	keys map[string]*rate.Limiter
}

func (l *limiters) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keys == nil || len(l.keys) >= maxKeys {
		l.keys = map[string]*rate.Limiter{} // a flood of keys starts them all afresh
	}
	lim := l.keys[key]
	if lim == nil {
		lim = rate.NewLimiter(intakeRate, intakeBurst)
		l.keys[key] = lim
	}
	return lim.AllowN(now, 1)
}

// intake takes a batch of events: bounded, validated event by event,
// limited per client key, and kept in the durable queue before it
// answers 202 with what it took and what it refused. 503 says the queue
// could not keep them: the SDK sends them again.
func (s *Service) intake(c echo.Context) error {
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, events.MaxBody+1))
	if err != nil {
		return badRequest(c, "body: %v", err)
	}
	if len(body) > events.MaxBody {
		return c.JSON(http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("body: more than %d KiB", events.MaxBody>>10)})
	}
	var b batch
	if err := json.Unmarshal(body, &b); err != nil {
		return badRequest(c, "body: not a batch of events: %v", err)
	}
	switch {
	case !keyPattern.MatchString(b.Key):
		return badRequest(c, "key: 1 to 64 letters, digits, '-' or '_'")
	case len(b.Events) == 0 || len(b.Events) > events.MaxBatch:
		return badRequest(c, "events: 1 to %d in a batch, not %d", events.MaxBatch, len(b.Events))
	}
	now := s.now()
	if !s.limits.allow(b.Key, now) {
		c.Response().Header().Set("Retry-After", "1")
		return c.JSON(http.StatusTooManyRequests, map[string]string{"error": "too many batches for this key"})
	}
	took := make([]events.Event, 0, len(b.Events))
	refused := []rejected{}
	for i, raw := range b.Events {
		var e events.Event
		if err := json.Unmarshal(raw, &e); err != nil {
			refused = append(refused, rejected{i, fmt.Sprintf("events[%d]: %v", i, err)})
			continue
		}
		if err := e.Validate(now); err != nil {
			refused = append(refused, rejected{i, fmt.Sprintf("events[%d].%v", i, err)})
			continue
		}
		e.Key = b.Key
		took = append(took, e)
	}
	if len(took) > 0 {
		if err := s.queue.Publish(c.Request().Context(), took); err != nil {
			s.log.Error("event queue unavailable", "events", len(took), "err", err)
			c.Response().Header().Set("Retry-After", "5")
			return c.JSON(http.StatusServiceUnavailable, map[string]string{"error": "the events could not be queued; send them again"})
		}
		for _, e := range took {
			s.m.received.WithLabelValues(e.Type).Inc()
		}
	}
	s.m.refused.Add(float64(len(refused)))
	return c.JSON(http.StatusAccepted, map[string]any{"accepted": len(took), "rejected": refused})
}

// eventTotals says what the pipeline holds: the distinct events processed
// by type, what waits in the queue, and the error groups, the most
// recently seen first.
func (s *Service) eventTotals(c echo.Context) error {
	ctx := c.Request().Context()
	processed, err := s.evstore.Processed(ctx)
	if err != nil {
		return err
	}
	depth, err := s.queue.Depth(ctx)
	if err != nil {
		return err
	}
	groups, err := s.evstore.ErrorGroups(ctx)
	if err != nil {
		return err
	}
	if groups == nil {
		groups = []events.ErrorGroup{}
	}
	return c.JSON(http.StatusOK, map[string]any{"processed": processed, "queued": depth, "error_groups": groups})
}
