package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nines-sre/nines/controller/store/postgres/pgtest"
	"github.com/nines-sre/nines/model"
)

// BenchmarkLatest reads the newest result of 5,000 checks in 7 regions,
// three results each (all), and what a replica reads every 2 s sync when
// every check runs once a minute (since: 1,167 new results, the rest stored
// a minute before).
func BenchmarkLatest(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, pgtest.Schema(b, pgtest.DSN(b)))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	regions := []string{"ca-central", "us-ohio", "us-oregon", "ap-sydney", "ap-tokyo", "eu-frankfurt", "eu-london"}
	t0 := time.Now().Truncate(time.Minute)
	var batch []model.Result
	for i := range 5000 {
		for _, r := range regions {
			for k := range 3 {
				at := t0.Add(time.Duration(k) * time.Minute)
				batch = append(batch, model.Result{Check: fmt.Sprintf("c%04d", i), Region: r, Probe: "p-" + r, ConfigVersion: "v1",
					Scheduled: at, Started: at, Outcome: model.OutcomeUp, DurationUS: 1000, HTTPStatus: 200})
			}
		}
		if len(batch) >= 2000 {
			if _, err := s.InsertResults(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if _, err := s.InsertResults(ctx, batch); err != nil {
		b.Fatal(err)
	}
	b.Run("all", func(b *testing.B) {
		for b.Loop() {
			rs, err := s.Latest(ctx)
			if err != nil || len(rs) != 35000 {
				b.Fatalf("%d %v", len(rs), err)
			}
		}
	})
	b.Run("since", func(b *testing.B) {
		if _, err := s.pool.Exec(ctx, `UPDATE results SET ingested_at = ingested_at - 60000`); err != nil {
			b.Fatal(err)
		}
		if _, err := s.pool.Exec(ctx, `VACUUM ANALYZE results`); err != nil {
			b.Fatal(err)
		}
		_, cursor, err := s.LatestSince(ctx, 0)
		if err != nil {
			b.Fatal(err)
		}
		next := t0.Add(3 * time.Minute)
		k := 0
		for b.Loop() {
			b.StopTimer()
			fresh := make([]model.Result, 0, 1167)
			for range 1167 {
				c := k % 35000
				fresh = append(fresh, model.Result{Check: fmt.Sprintf("c%04d", c/7), Region: regions[c%7], Probe: "p", ConfigVersion: "v1",
					Scheduled: next.Add(time.Duration(k/35000) * time.Minute), Started: next, Outcome: model.OutcomeUp, DurationUS: 1000})
				k++
			}
			if _, err := s.InsertResults(ctx, fresh); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			rs, c, err := s.LatestSince(ctx, cursor)
			if err != nil || len(rs) < 1167 {
				b.Fatalf("%d %v", len(rs), err)
			}
			cursor = c
		}
	})
}
