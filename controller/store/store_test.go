package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/nines-sre/nines/controller/sla"
	"github.com/nines-sre/nines/model"
)

func result(check, region string, at time.Time, outcome model.Outcome) model.Result {
	r := model.Result{Check: check, Region: region, Scheduled: at, Probe: "p-" + region, ConfigVersion: "v1",
		Started: at.Add(3 * time.Millisecond), DurationUS: 1500, Outcome: outcome, HTTPStatus: 200,
		Phases: model.Phases{DNS: 10, Connect: 100, TTFB: 900, Transfer: 50}, Bytes: 42}
	if outcome == model.OutcomeDown {
		r.ErrorClass, r.HTTPStatus, r.Message = model.ErrStatus, 503, "status 503"
	}
	return r
}

func TestInsertIsIdempotentAndSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "nines.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	withEdge := result("asset", "eu-london", t0, model.OutcomeUp)
	exp := t0.Add(30 * 24 * time.Hour)
	withEdge.CertExpiry = &exp
	withEdge.Edge = &model.Edge{IP: "192.0.2.1", ContentHash: "ab12", Version: "3", Cache: map[string]string{"Age": "12"}}
	if _, err := s.InsertResults(ctx, []model.Result{withEdge}); err != nil {
		t.Fatal(err)
	}
	back, err := s.Results(ctx, Query{Check: "asset", Since: t0})
	if err != nil || len(back) != 1 || !back[0].CertExpiry.Equal(exp) || back[0].Edge.Cache["Age"] != "12" || back[0].Edge.Version != "3" {
		t.Fatalf("cert and edge round trip: %v %+v", err, back)
	}
	batch := []model.Result{
		result("api", "eu-london", t0, model.OutcomeUp),
		result("api", "eu-frankfurt", t0, model.OutcomeDown),
		result("api", "eu-london", t0.Add(time.Minute), model.OutcomeUp),
	}
	stored, err := s.InsertResults(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if !stored[0] || !stored[1] || !stored[2] {
		t.Fatalf("first insert stored %v", stored)
	}
	again, err := s.InsertResults(ctx, append(batch[1:], result("api", "eu-london", t0.Add(2*time.Minute), model.OutcomeUp)))
	if err != nil {
		t.Fatal(err)
	}
	if again[0] || again[1] || !again[2] {
		t.Fatalf("retried batch stored %v, want duplicates then one new", again)
	}
	s.Close()

	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, _ := s.CountResults(ctx); n != 5 {
		t.Fatalf("%d results after reopen, want 5", n)
	}
	got, err := s.Results(ctx, Query{Check: "api", Region: "eu-frankfurt", Since: t0})
	if err != nil {
		t.Fatal(err)
	}
	want := batch[1]
	want.Started = want.Started.Truncate(time.Millisecond)
	if len(got) != 1 || got[0] != want {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
	latest, err := s.Latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(latest) != 3 {
		t.Fatalf("latest %d rows, want one per check and region", len(latest))
	}
	for _, r := range latest {
		if r.Check == "api" && r.Region == "eu-london" && !r.Scheduled.Equal(t0.Add(2*time.Minute)) {
			t.Fatalf("latest of eu-london is %s", r.Scheduled)
		}
	}
	if _, err := s.Results(ctx, Query{Check: "nope", Since: t0}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown check: %v", err)
	}
	ranged, err := s.Results(ctx, Query{Check: "api", Region: "eu-london", Since: t0.Add(time.Second), Until: t0.Add(2 * time.Minute)})
	if err != nil || len(ranged) != 1 {
		t.Fatalf("range query: %v %d", err, len(ranged))
	}
}

func TestMigrationsAreRecorded(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "nines.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n < 1 {
		t.Fatalf("schema_migrations: %d %v", n, err)
	}
	var mode string
	if err := s.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal mode %q %v", mode, err)
	}
}

func TestRetentionKeepsRollups(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "nines.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	old, recent := now.Add(-20*24*time.Hour), now.Add(-time.Hour)
	if _, err := s.InsertResults(ctx, []model.Result{
		result("api", "eu-london", old, model.OutcomeDown), result("api", "eu-london", recent, model.OutcomeUp),
		result("api", "eu-frankfurt", old, model.OutcomeUp),
	}); err != nil {
		t.Fatal(err)
	}
	slices := map[sla.Minute]sla.Slice{sla.MinuteOf(old): sla.SliceDown, sla.MinuteOf(recent): sla.SliceUp}
	if err := s.PutSlices(ctx, "api", slices, nil, 0); err != nil {
		t.Fatal(err)
	}
	n, err := s.PruneResults(ctx, now.Add(-14*24*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("pruned %d results (%v), want the 2 older than 14 days", n, err)
	}
	if left, _ := s.CountResults(ctx); left != 1 {
		t.Fatalf("%d results left", left)
	}
	if n, err := s.PruneSlices(ctx, sla.MinuteOf(now.Add(-14*24*time.Hour))); err != nil || n != 1 {
		t.Fatalf("pruned %d slices (%v)", n, err)
	}
	// The day of the old outage still counts its down minute from the rollups.
	day := sla.MinuteOf(old) / sla.SpanDay * sla.SpanDay
	counts, err := s.Counts(ctx, []string{"api"}, day, day+sla.SpanDay)
	if err != nil || counts["api"].Bad != 1 || counts["api"].Unknown != sla.SpanDay-1 {
		t.Fatalf("counts of the pruned day: %+v %v", counts, err)
	}
}
