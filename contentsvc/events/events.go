// Package events is contentsvc's event pipeline: what its SDKs send
// (renders with the level that served, impressions, errors a boundary
// caught), a durable queue between the intake and the consumer, and the
// consumer that processes each event once in effect: events arrive at
// least once (an SDK retries what it could not send; a queue redelivers
// what it could not confirm), and the consumer drops those it has already
// processed, by the id the client gave each.
package events

import (
	"fmt"
	"regexp"
	"time"
)

// Event is one thing an SDK saw.
type Event struct {
	// ID is the client's: unique per event, kept across its retries.
	ID   string    `json:"id"`
	Type string    `json:"type"`
	At   time.Time `json:"at"`
	// User and Country are the user's (Country: ISO 3166 alpha-2, as the
	// host application knows it; "" when unknown).
	User    string `json:"user,omitempty"`
	Country string `json:"country,omitempty"`
	// SDK is the SDK's name and version ("contentsvc-js/1.0.0").
	SDK string `json:"sdk,omitempty"`

	Render     *Render     `json:"render,omitempty"`
	Impression *Impression `json:"impression,omitempty"`
	Error      *Error      `json:"error,omitempty"`

	// Key is the client key the batch came with (set by the intake).
	Key string `json:"key,omitempty"`
}

// Types of events.
const (
	TypeRender     = "render"
	TypeImpression = "impression"
	TypeError      = "error"
)

// Render is content the SDK rendered: the level of its fallback chain
// that served it and how long it took.
type Render struct {
	Level      string  `json:"level"`
	DurationMS float64 `json:"duration_ms"`
	Segment    string  `json:"segment,omitempty"`
}

// Levels of the SDK's fallback chain.
var Levels = []string{"fresh", "cached", "default", "empty"}

// Good reports whether a render served what the user was meant to see:
// fresh or cached content.
func (r *Render) Good() bool { return r.Level == "fresh" || r.Level == "cached" }

// Impression is a piece of content the user saw.
type Impression struct {
	Content string `json:"content"`
}

// Error is an error an SDK's boundary caught.
type Error struct {
	Message   string `json:"message"`
	Stack     string `json:"stack,omitempty"`
	Component string `json:"component,omitempty"`
	Browser   string `json:"browser,omitempty"`
	URL       string `json:"url,omitempty"`
}

// Bounds of what a batch holds.
const (
	MaxBatch   = 100
	MaxBody    = 256 << 10
	maxText    = 256
	maxMessage = 1024
	maxStack   = 8 << 10
	// MaxSkew is how far an event's time may be from the intake's: an
	// SDK's queue holds events a while, a clock may be off.
	MaxSkew = 24 * time.Hour
)

var (
	idPattern      = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)
	countryPattern = regexp.MustCompile(`^[A-Z]{2}$`)
)

// Validate says what is wrong with e at now, naming the field.
func (e *Event) Validate(now time.Time) error {
	switch {
	case !idPattern.MatchString(e.ID):
		return fmt.Errorf("id: %q is not 8 to 64 letters, digits, '-' or '_'", clip(e.ID))
	case e.At.IsZero():
		return fmt.Errorf("at: missing")
	case e.At.Sub(now) > MaxSkew || now.Sub(e.At) > MaxSkew:
		return fmt.Errorf("at: %s is more than %s from now", e.At.UTC().Format(time.RFC3339), MaxSkew)
	case e.Country != "" && !countryPattern.MatchString(e.Country):
		return fmt.Errorf("country: %q is not an ISO 3166 alpha-2 code", clip(e.Country))
	case len(e.User) > maxText:
		return fmt.Errorf("user: longer than %d bytes", maxText)
	case len(e.SDK) > maxText:
		return fmt.Errorf("sdk: longer than %d bytes", maxText)
	}
	body := 0
	for _, set := range []bool{e.Render != nil, e.Impression != nil, e.Error != nil} {
		if set {
			body++
		}
	}
	if body != 1 {
		return fmt.Errorf("type: an event carries one of render, impression and error")
	}
	switch e.Type {
	case TypeRender:
		if e.Render == nil {
			return fmt.Errorf("render: missing for a render event")
		}
		if !validLevel(e.Render.Level) {
			return fmt.Errorf("render.level: %q is not one of fresh, cached, default, empty", clip(e.Render.Level))
		}
		if e.Render.DurationMS < 0 || e.Render.DurationMS > 600_000 {
			return fmt.Errorf("render.duration_ms: %v is not between 0 and 600000", e.Render.DurationMS)
		}
		if len(e.Render.Segment) > maxText {
			return fmt.Errorf("render.segment: longer than %d bytes", maxText)
		}
	case TypeImpression:
		if e.Impression == nil || e.Impression.Content == "" || len(e.Impression.Content) > maxText {
			return fmt.Errorf("impression.content: 1 to %d bytes", maxText)
		}
	case TypeError:
		switch {
		case e.Error == nil || e.Error.Message == "":
			return fmt.Errorf("error.message: missing")
		case len(e.Error.Message) > maxMessage:
			return fmt.Errorf("error.message: longer than %d bytes", maxMessage)
		case len(e.Error.Stack) > maxStack:
			return fmt.Errorf("error.stack: longer than %d bytes", maxStack)
		case len(e.Error.Component) > maxText || len(e.Error.Browser) > maxText || len(e.Error.URL) > maxMessage:
			return fmt.Errorf("error: component, browser or url too long")
		}
	default:
		return fmt.Errorf("type: %q is not render, impression or error", clip(e.Type))
	}
	return nil
}

func validLevel(l string) bool {
	for _, v := range Levels {
		if v == l {
			return true
		}
	}
	return false
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
