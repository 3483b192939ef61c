package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/PagerDuty/go-pagerduty"

	"github.com/nines-sre/nines/alerting"
	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/model"
)

// PagerDuty sends Events API v2 events through go-pagerduty. The dedup key
// is the alert key, so a resend after a crash lands in the same incident;
// retries are the outbox's, not the library's.
type PagerDuty struct {
	routingKey string
	client     *pagerduty.Client
}

var _ alerting.Notifier = (*PagerDuty)(nil)

func init() {
	register("pagerduty", func(s *config.PagerDutyNotifier, c *http.Client) alerting.Notifier {
		return NewPagerDuty(s.RoutingKey, s.EventsURL, c)
	})
}

// NewPagerDuty posts to eventsURL + /v2/enqueue (EU accounts use
// https://events.eu.pagerduty.com).
func NewPagerDuty(routingKey, eventsURL string, hc *http.Client) *PagerDuty {
	c := pagerduty.NewClient("", pagerduty.WithV2EventsAPIEndpoint(eventsURL))
	c.HTTPClient = &http.Client{Timeout: hc.Timeout, Transport: &headerRecorder{base: transportOf(hc)}}
	return &PagerDuty{routingKey: routingKey, client: c}
}

func transportOf(hc *http.Client) http.RoundTripper {
	if hc.Transport != nil {
		return hc.Transport
	}
	return http.DefaultTransport
}

// headerRecorder keeps the status and the Retry-After of an answer for the
// caller: the library's error carries neither when the body is not JSON (a
// proxy's 502 page).
type headerRecorder struct{ base http.RoundTripper }

type recorded struct {
	mu     sync.Mutex
	status int
	header http.Header
}

type recordKey struct{}

func (h *headerRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := h.base.RoundTrip(r)
	if rec, ok := r.Context().Value(recordKey{}).(*recorded); ok && resp != nil {
		rec.mu.Lock()
		rec.status, rec.header = resp.StatusCode, resp.Header.Clone()
		rec.mu.Unlock()
	}
	return resp, err
}

// Notify sends one event.
func (p *PagerDuty) Notify(ctx context.Context, m alerting.Message) error {
	ev := &pagerduty.V2Event{RoutingKey: p.routingKey, Action: string(m.Action), DedupKey: model.Cut(m.AlertKey, 255), Client: "nines", ClientURL: m.Link}
	if m.Action == alerting.ActionTrigger {
		details := map[string]any{"urgency": m.Urgency, "incident": m.Incident, "escalation_level": m.Level + 1}
		for k, v := range m.Details {
			details[k] = v
		}
		ev.Payload = &pagerduty.V2Payload{Summary: model.Cut(m.Summary, 1024), Source: m.Source, Severity: m.Severity,
			Timestamp: m.At.UTC().Format(time.RFC3339), Component: m.Component, Group: m.Group, Class: m.Class, Details: details}
		if m.Link != "" {
			ev.Links = []interface{}{map[string]string{"href": m.Link, "text": "Open in nines"}}
		}
	}
	rec := &recorded{}
	_, err := p.client.ManageEventWithContext(context.WithValue(ctx, recordKey{}, rec), ev)
	if err == nil {
		return nil
	}
	var apiErr pagerduty.APIError
	var apiErrPtr *pagerduty.APIError
	status := 0
	if errors.As(err, &apiErr) {
		status = apiErr.StatusCode
	} else if errors.As(err, &apiErrPtr) {
		status = apiErrPtr.StatusCode
	}
	rec.mu.Lock()
	after, answered := retryAfter(rec.header, time.Now()), rec.status
	rec.mu.Unlock()
	if status == 0 {
		status = answered
	}
	if status != 0 {
		err = fmt.Errorf("PagerDuty answered HTTP %d: %w", status, err)
	}
	if status != 0 && status != http.StatusTooManyRequests && status < 500 {
		return err // 400: the event is invalid; resending it cannot help
	}
	return &alerting.RetryError{After: after, Err: err}
}
