// Package notify holds the notifiers, one file each: PagerDuty (Events API
// v2), Slack, a signed generic webhook, and email.
package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"strconv"
	"time"

	"github.com/nines-sre/nines/alerting"
	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/model"
)

// Build makes a notifier for every configured one, by id.
func Build(notifiers []config.Notifier, client *http.Client) map[string]alerting.Notifier {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	out := make(map[string]alerting.Notifier, len(notifiers))
	for i := range notifiers {
		n := &notifiers[i]
		if build, ok := builders[n.Kind()]; ok {
			out[n.ID] = build(n.Spec(), client)
		}
	}
	return out
}

// builders makes each kind's notifier from its configuration block; the
// file of each kind adds its own with register.
var builders = map[string]func(config.NotifierSpec, *http.Client) alerting.Notifier{}

func register[S config.NotifierSpec](kind string, build func(S, *http.Client) alerting.Notifier) {
	builders[kind] = func(spec config.NotifierSpec, client *http.Client) alerting.Notifier { return build(spec.(S), client) }
}

// retryAfter reads a Retry-After header given in seconds or as a date.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// post sends body and classifies the answer: 2xx delivered; 429 and 5xx
// (and no answer at all) worth a retry, honouring Retry-After; any other
// status final.
func post(ctx context.Context, client *http.Client, url string, body []byte, header http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header = header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		// The URL of a Slack or webhook notifier is itself a credential:
		// it never reaches an error, a log line or the attempts log.
		var ue *neturl.Error
		if errors.As(err, &ue) {
			err = fmt.Errorf("%s %s: %w", ue.Op, model.RedactURL(ue.URL, true), ue.Err)
		}
		return &alerting.RetryError{Err: fmt.Errorf("post: %w", err)}
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode/100 == 2:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return &alerting.RetryError{After: retryAfter(resp.Header, time.Now()),
			Err: fmt.Errorf("answered %d: %s", resp.StatusCode, bytes.TrimSpace(text))}
	}
	return fmt.Errorf("answered %d: %s", resp.StatusCode, bytes.TrimSpace(text))
}

var errNoTargets = errors.New("no recipients")
