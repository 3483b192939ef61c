// Package sla turns regional results into minute slices and slices into SLO
// figures: SLI, error budget, burn rates. It is pure computation; the
// controller feeds it from the store.
package sla

import (
	"math"
	"time"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/model"
)

// Slice is the verdict of one check (or one service) for one minute.
type Slice uint8

// Slice values, as stored. Their order is their weight when the checks of a
// service are combined: one down check makes the service minute down.
const (
	SliceUnknown Slice = iota
	SliceUp
	SliceDegraded
	SliceDown
	SliceMaintenance
)

// Status names a slice in the model's vocabulary.
func (s Slice) Status() model.Status {
	switch s {
	case SliceUp:
		return model.StatusUp
	case SliceDegraded:
		return model.StatusDegraded
	case SliceDown:
		return model.StatusDown
	case SliceMaintenance:
		return model.StatusMaintenance
	}
	return model.StatusUnknown
}

// Minute is a slice's time: Unix seconds / 60.
type Minute int64

// MinuteOf returns the minute t falls in.
func MinuteOf(t time.Time) Minute { return Minute(math.Floor(float64(t.Unix()) / 60)) }

// Time is the start of m.
func (m Minute) Time() time.Time { return time.Unix(int64(m)*60, 0).UTC() }

// Combine is the service slice of several checks' slices for one minute:
// down when any is down; up (or degraded) when any is known; maintenance
// when the rest are in maintenance; unknown otherwise.
func Combine(a, b Slice) Slice {
	rank := func(s Slice) int {
		switch s {
		case SliceDown:
			return 4
		case SliceDegraded:
			return 3
		case SliceUp:
			return 2
		case SliceMaintenance:
			return 1
		}
		return 0
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// BurnWindows are the windows burn rates are computed over.
var BurnWindows = config.BurnWindows

// Counts tallies slices.
type Counts struct {
	Good, Bad, Unknown, Maintenance int
	// Degraded is how many of the good minutes were degraded.
	Degraded int
}

// Add counts one slice. Degraded minutes are good: the service answered,
// only not everywhere or not fast everywhere.
func (c *Counts) Add(s Slice) {
	switch s {
	case SliceUp:
		c.Good++
	case SliceDegraded:
		c.Good++
		c.Degraded++
	case SliceDown:
		c.Bad++
	case SliceMaintenance:
		c.Maintenance++
	default:
		c.Unknown++
	}
}

// Valid is the number of slices that count toward the SLI.
func (c Counts) Valid() int { return c.Good + c.Bad }

// BurnRate is (bad / valid) / (1 − target); 0 without valid slices.
func BurnRate(c Counts, target float64) float64 { return Burn(c.Bad, c.Valid(), target) }

// Burn is (bad / valid) / (1 − target) for any unit; 0 when valid is 0.
func Burn(bad, valid int, target float64) float64 {
	if valid == 0 || target >= 1 {
		return 0
	}
	return float64(bad) / float64(valid) / (1 - target)
}

// Events tallies occurrences for a latency SLI: results under the
// threshold (good) among all results.
type Events struct {
	Good, Total int
}

// Bad is the number of results at or over the threshold, or down.
func (e Events) Bad() int { return e.Total - e.Good }

// Budget is the error budget of a window, in slices (minutes).
type Budget struct {
	Total     float64 // (1 − target) × valid minutes
	Consumed  float64 // bad minutes
	Remaining float64 // Total − Consumed; negative once overspent
	// RemainingRatio is Remaining / Total; 1 with no valid minutes yet.
	RemainingRatio float64
}

// NewBudget computes the budget of counts at target (a ratio, 0.999).
func NewBudget(c Counts, target float64) Budget { return BudgetOf(c.Bad, c.Valid(), target) }

// BudgetOf is the budget of bad among valid units (minutes or events).
func BudgetOf(bad, valid int, target float64) Budget {
	b := Budget{Total: (1 - target) * float64(valid), Consumed: float64(bad)}
	b.Remaining = b.Total - b.Consumed
	b.RemainingRatio = 1
	if b.Total > 0 {
		b.RemainingRatio = b.Remaining / b.Total
	} else if b.Consumed > 0 {
		b.RemainingRatio = 0
	}
	return b
}

// ExhaustedIn is how long the remaining budget lasts at burn rate burn: a
// burn of 1 spends (1 − target) of each valid minute. Nil when it never
// runs out at that rate; zero when it already has.
func ExhaustedIn(b Budget, burn, target float64) *time.Duration {
	return ExhaustedInUnits(b, burn, target, 1)
}

// ExhaustedInUnits is ExhaustedIn for a budget counted in units of which
// perMinute arrive each minute (events for a latency SLI).
func ExhaustedInUnits(b Budget, burn, target, perMinuteUnits float64) *time.Duration {
	if b.Remaining <= 0 {
		d := time.Duration(0)
		return &d
	}
	perMinute := burn * (1 - target) * perMinuteUnits
	if perMinute <= 0 {
		return nil
	}
	d := time.Duration(b.Remaining / perMinute * float64(time.Minute))
	return &d
}

// Spans of the stored history: minute slices, hourly and daily rollups.
const (
	SpanMinute = 1
	SpanHour   = 60
	SpanDay    = 1440
)

// Segment is a run of [From, To) read at one span: whole days from daily
// rollups, whole hours from hourly ones, the rest minute by minute.
type Segment struct {
	Span     int
	From, To Minute
}

// Segments splits [from, to) into the fewest aligned segments: leading
// minutes up to the hour, leading hours up to the day, whole days, then
// trailing hours and minutes.
func Segments(from, to Minute) []Segment {
	var out []Segment
	add := func(span int, a, b Minute) {
		if a < b {
			out = append(out, Segment{Span: span, From: a, To: b})
		}
	}
	up := func(m Minute, span int) Minute {
		s := Minute(span)
		return (m + s - 1) / s * s
	}
	down := func(m Minute, span int) Minute { s := Minute(span); return m / s * s }
	if to <= from {
		return nil
	}
	h1 := min(up(from, SpanHour), to)
	add(SpanMinute, from, h1)
	d1 := min(up(h1, SpanDay), down(to, SpanHour))
	if d1 < h1 {
		d1 = h1
	}
	add(SpanHour, h1, d1)
	d2 := max(down(to, SpanDay), d1)
	add(SpanDay, d1, d2)
	h2 := max(down(to, SpanHour), d2)
	add(SpanHour, d2, h2)
	add(SpanMinute, h2, to)
	return out
}
