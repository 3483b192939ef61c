package model

import (
	"fmt"
	"time"
)

// EventCounts is what a system pushes for a request-based SLI: its good
// and valid events per minute (POST /sli/{slo}/{key}).
type EventCounts struct {
	Counts []MinuteEvents `json:"counts"`
}

// MinuteEvents is one minute's counts: Minute is its start, whole
// minutes in UTC; Good of Valid events were good.
type MinuteEvents struct {
	Minute time.Time `json:"minute"`
	Good   int64     `json:"good"`
	Valid  int64     `json:"valid"`
}

// Bounds of pushed counts.
const (
	// MaxEventMinutes is how many minutes one push may carry (a day's).
	MaxEventMinutes = 1440
	// MaxEventsPerMinute bounds one minute's valid events.
	MaxEventsPerMinute = 1 << 40
	// EventBackfill is how far back a push may reach.
	EventBackfill = 7 * 24 * time.Hour
)

// Validate checks pushed counts at now: each minute whole, not in the
// future, within EventBackfill, once; 0 ≤ good ≤ valid.
func (e *EventCounts) Validate(now time.Time) error {
	if len(e.Counts) == 0 {
		return fmt.Errorf("counts: none given")
	}
	if len(e.Counts) > MaxEventMinutes {
		return fmt.Errorf("counts: %d minutes, more than %d in one push", len(e.Counts), MaxEventMinutes)
	}
	seen := make(map[int64]bool, len(e.Counts))
	for i, c := range e.Counts {
		p := fmt.Sprintf("counts[%d]", i)
		switch {
		case c.Minute.IsZero():
			return fmt.Errorf("%s.minute: missing", p)
		case !c.Minute.Equal(c.Minute.Truncate(time.Minute)):
			return fmt.Errorf("%s.minute: %s is not the start of a minute", p, c.Minute.UTC().Format(time.RFC3339Nano))
		case c.Minute.After(now):
			return fmt.Errorf("%s.minute: %s is in the future", p, c.Minute.UTC().Format(time.RFC3339))
		case now.Sub(c.Minute) > EventBackfill:
			return fmt.Errorf("%s.minute: %s is more than %s ago", p, c.Minute.UTC().Format(time.RFC3339), EventBackfill)
		case seen[c.Minute.Unix()]:
			return fmt.Errorf("%s.minute: %s is given twice", p, c.Minute.UTC().Format(time.RFC3339))
		case c.Valid < 0 || c.Valid > MaxEventsPerMinute:
			return fmt.Errorf("%s.valid: %d is not between 0 and %d", p, c.Valid, int64(MaxEventsPerMinute))
		case c.Good < 0 || c.Good > c.Valid:
			return fmt.Errorf("%s.good: %d is not between 0 and valid (%d)", p, c.Good, c.Valid)
		}
		seen[c.Minute.Unix()] = true
	}
	return nil
}
