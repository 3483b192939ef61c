package model

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"
)

// AlertEvent is what a system tells nines happened, for an alert rule of
// kind event (POST /events/{rule}/{key}): a new error fingerprint, a
// failed deploy. Events with the same Key are one alert: a trigger opens
// it or keeps it open, a resolve ends it.
type AlertEvent struct {
	// Key names what the event is about; it becomes the alert's subject.
	Key string `json:"key"`
	// Action is trigger (the default) or resolve.
	Action string `json:"action,omitempty"`
	// Summary is what on-call reads first (required to trigger).
	Summary string `json:"summary,omitempty"`
	// Link, when set, is where to look (an http(s) URL).
	Link string `json:"link,omitempty"`
	// Details are shown with the alert, as given.
	Details map[string]string `json:"details,omitempty"`
}

// Alert event actions.
const (
	EventTrigger = "trigger"
	EventResolve = "resolve"
)

// Bounds of an alert event.
const (
	MaxEventKey     = 128
	MaxEventSummary = 1024
	MaxEventLink    = 2048
	MaxEventDetails = 20
	MaxEventDetail  = 1024
)

var (
	eventKeyRe    = regexp.MustCompile(`^[A-Za-z0-9._:-]+$`)
	detailNameRe  = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	controlCharRe = regexp.MustCompile(`[\x00-\x08\x0b-\x1f\x7f]`)
	unprintable   = regexp.MustCompile(`[\x00-\x1f\x7f]+`)
)

// Validate checks an event, naming the field and the reason; it sets an
// empty Action to trigger.
func (e *AlertEvent) Validate() error {
	switch {
	case e.Key == "":
		return fmt.Errorf("key: missing")
	case len(e.Key) > MaxEventKey:
		return fmt.Errorf("key: %d bytes, more than %d", len(e.Key), MaxEventKey)
	case !eventKeyRe.MatchString(e.Key):
		return fmt.Errorf("key: %q has characters other than letters, digits, '.', '_', ':' and '-'", Clip(e.Key, 40))
	}
	switch e.Action {
	case "":
		e.Action = EventTrigger
	case EventTrigger, EventResolve:
	default:
		return fmt.Errorf("action: %q is not trigger or resolve", Clip(e.Action, 40))
	}
	if err := text("summary", e.Summary, MaxEventSummary); err != nil {
		return err
	}
	if e.Action == EventTrigger && e.Summary == "" {
		return fmt.Errorf("summary: missing (a trigger needs one)")
	}
	if e.Link != "" {
		u, err := url.Parse(e.Link)
		switch {
		case len(e.Link) > MaxEventLink:
			return fmt.Errorf("link: %d bytes, more than %d", len(e.Link), MaxEventLink)
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			return fmt.Errorf("link: not an http(s) URL")
		}
	}
	if len(e.Details) > MaxEventDetails {
		return fmt.Errorf("details: %d entries, more than %d", len(e.Details), MaxEventDetails)
	}
	for k, v := range e.Details {
		if !detailNameRe.MatchString(k) {
			return fmt.Errorf("details: %q is not a name of 1 to 64 letters, digits, '_', '.' or '-'", Clip(k, 40))
		}
		if err := text("details."+k, v, MaxEventDetail); err != nil {
			return err
		}
	}
	return nil
}

// OneLine is s as an event's text may carry it: every control character
// (newlines and tabs too) a space, at most n bytes (Clip).
func OneLine(s string, n int) string {
	return Clip(strings.TrimSpace(unprintable.ReplaceAllString(s, " ")), n)
}

// text checks a free text field: valid UTF-8, no control characters but
// tab and newline, at most max bytes.
func text(field, s string, max int) error {
	switch {
	case len(s) > max:
		return fmt.Errorf("%s: %d bytes, more than %d", field, len(s), max)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s: not valid UTF-8", field)
	case controlCharRe.MatchString(s):
		return fmt.Errorf("%s: has control characters", field)
	}
	return nil
}
