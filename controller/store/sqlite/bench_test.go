package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/nines-sre/nines/controller/sla"
)

// history lays out what 1,000 checks leave behind over `days` days: daily
// and hourly rollups for every day, and minute slices for the last two
// days (all that a report reads at minute span: a window's leading and
// trailing partial hours).
func history(b *testing.B, checks, days int, now time.Time) *Store {
	b.Helper()
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "nines.db"))
	if err != nil {
		b.Fatal(err)
	}
	to := sla.MinuteOf(now)
	from := (to - sla.Minute(days*sla.SpanDay)) / sla.SpanDay * sla.SpanDay
	tx, _ := s.db.BeginTx(ctx, nil)
	addName, _ := tx.PrepareContext(ctx, `INSERT INTO checks (name) VALUES (?)`)
	roll, _ := tx.PrepareContext(ctx, `INSERT INTO rollups VALUES (?, ?, ?, ?, 0, ?, 0)`)
	slice, _ := tx.PrepareContext(ctx, `INSERT INTO slices VALUES (?, ?, ?)`)
	for c := 1; c <= checks; c++ {
		if _, err := addName.ExecContext(ctx, fmt.Sprintf("check-%04d", c)); err != nil {
			b.Fatal(err)
		}
		for d := from; d < to; d += sla.SpanDay {
			down := c % 3 // a few bad minutes a day for some checks
			roll.ExecContext(ctx, c, sla.SpanDay, int64(d), sla.SpanDay-down, down)
			for h := d; h < d+sla.SpanDay && h < to; h += sla.SpanHour {
				hd := 0
				if h == d {
					hd = down
				}
				roll.ExecContext(ctx, c, sla.SpanHour, int64(h), sla.SpanHour-hd, hd)
			}
		}
		for m := to - 2*sla.SpanDay; m < to; m++ {
			slice.ExecContext(ctx, c, int64(m), int(sla.SliceUp))
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	s.Close()
	if s, err = Open(ctx, filepath.Join(filepath.Dir(s.path), "nines.db")); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkSLAReport30Days counts 30 days of minutes for 1,000 checks (the
// SLA report's query; 7 regions each, already confirmed into slices).
func BenchmarkSLAReport30Days(b *testing.B) {
	now := time.Date(2026, 11, 26, 12, 30, 0, 0, time.UTC)
	s := history(b, 1000, 31, now)
	defer s.Close()
	to := sla.MinuteOf(now)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		counts, err := s.Counts(ctx, nil, to-30*sla.SpanDay, to)
		if err != nil || len(counts) != 1000 {
			b.Fatalf("%d checks, %v", len(counts), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/report")
}

// BenchmarkHistory90Days reads 90 daily buckets of 1,000 checks: the status
// page's uptime bars.
func BenchmarkHistory90Days(b *testing.B) {
	now := time.Date(2026, 11, 26, 12, 30, 0, 0, time.UTC)
	s := history(b, 1000, 91, now)
	defer s.Close()
	to := sla.MinuteOf(now)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		h, err := s.History(ctx, nil, sla.SpanDay, to-90*sla.SpanDay, to)
		if err != nil || len(h) != 1000 || len(h["check-0001"]) != 90 {
			b.Fatalf("%d checks, %d days, %v", len(h), len(h["check-0001"]), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/query")
}
