package sla

import (
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestSegmentsCoverExactlyAndAlign(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		from := Minute(rapid.Int64Range(0, 5_000_000).Draw(rt, "from"))
		to := from + Minute(rapid.Int64Range(0, 200_000).Draw(rt, "length"))
		at := from
		for _, s := range Segments(from, to) {
			if s.From != at || s.To <= s.From {
				rt.Fatalf("segment %+v does not continue at %d", s, at)
			}
			if s.Span > 1 && (int64(s.From)%int64(s.Span) != 0 || int64(s.To)%int64(s.Span) != 0) {
				rt.Fatalf("segment %+v is not aligned to its span", s)
			}
			at = s.To
		}
		if at != to && to > from {
			rt.Fatalf("segments end at %d, not %d", at, to)
		}
	})
	// A 30-day window ending mid-day: minutes, hours, 29 days, hours, minutes.
	to := MinuteOf(time.Date(2026, 11, 26, 12, 30, 0, 0, time.UTC))
	segs := Segments(to-30*1440, to)
	if len(segs) != 5 || segs[2].Span != SpanDay || segs[2].To-segs[2].From != 29*1440 {
		t.Fatalf("segments %+v", segs)
	}
}

func TestBudgetAndBurn(t *testing.T) {
	c := Counts{Good: 43190, Bad: 10}
	b := NewBudget(c, 0.999)
	if b.Total < 43.19999 || b.Total > 43.20001 || b.Remaining < 33.19999 || b.Remaining > 33.20001 {
		t.Fatalf("budget %+v", b)
	}
	if r := BurnRate(Counts{Good: 59, Bad: 1}, 0.999); r < 16.666 || r > 16.667 {
		t.Fatalf("burn %v", r)
	}
	if d := ExhaustedIn(b, 0, 0.999); d != nil {
		t.Fatal("no burn, yet an exhaustion time")
	}
	// At burn 1 the remaining 33.2 budget minutes last 33.2 / 0.001 minutes.
	if d := ExhaustedIn(b, 1, 0.999); d == nil || d.Round(time.Minute) != 33200*time.Minute {
		t.Fatalf("exhausted in %v", d)
	}
	if d := ExhaustedIn(NewBudget(Counts{Good: 10, Bad: 5}, 0.999), 1, 0.999); d == nil || *d != 0 {
		t.Fatalf("overspent budget: %v", d)
	}
}
