package contentsvc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"regexp"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/nines-sre/nines/contentsvc/events"
	"github.com/nines-sre/nines/internal/clientlimit"
)

// Bounds of the intake: each client key's batches a second, in bursts,
// and how many keys are tracked at once.
const (
	intakeRate  = 500
	intakeBurst = 1000
	maxKeys     = 10_000
)

// newIntakeLimits bounds each client key's batches; a flood of made-up
// keys forgives no key its limit (clientlimit).
func newIntakeLimits(now func() time.Time) *clientlimit.Limits {
	return &clientlimit.Limits{Every: time.Second / intakeRate, Burst: intakeBurst, Max: maxKeys, Now: now}
}

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
	if !s.limits.Allow(b.Key) {
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

// errorsPage is the errors for review, as a page.
var errorsPage = template.Must(template.ParseFS(web, "web/errors.html"))

// reviewErrors shows the error groups for review: what the SDKs sent is
// untrusted text, and the template escapes every bit of it.
func (s *Service) reviewErrors(c echo.Context) error {
	processed, depth, groups, err := s.pipelineState(c.Request().Context())
	if err != nil {
		return err
	}
	var total int64
	for _, n := range processed {
		total += n
	}
	var b bytes.Buffer
	if err := errorsPage.Execute(&b, map[string]any{"Groups": groups, "Processed": total, "Queued": depth}); err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	return c.HTMLBlob(http.StatusOK, b.Bytes())
}

// eventTotals says what the pipeline holds: the distinct events processed
// by type, what waits in the queue, and the error groups, the most
// recently seen first.
func (s *Service) eventTotals(c echo.Context) error {
	processed, depth, groups, err := s.pipelineState(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"processed": processed, "queued": depth, "error_groups": groups})
}

// pipelineState is what the event pipeline holds: distinct events
// processed by type, what waits in the queue, and the error groups.
func (s *Service) pipelineState(ctx context.Context) (map[string]int64, int, []events.ErrorGroup, error) {
	processed, err := s.evstore.Processed(ctx)
	if err != nil {
		return nil, 0, nil, err
	}
	depth, err := s.queue.Depth(ctx)
	if err != nil {
		return nil, 0, nil, err
	}
	groups, err := s.evstore.ErrorGroups(ctx)
	if groups == nil {
		groups = []events.ErrorGroup{}
	}
	return processed, depth, groups, err
}
