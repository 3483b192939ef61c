// Command storage measures what raw results take on disk in each backend:
// a day of results of N checks in seven regions (one a minute each) is
// stored, the slicing marks cleared as the slicer would, and the bytes
// the store grew by are divided by the results; on PostgreSQL again once
// the day is packed (a closed day, see store/postgres/packed.go). It
// prints bytes per result and what a day and 14 days of 50,000 checks × 7
// regions would take.
//
//	go run ./bench/storage -checks 100 [-database postgres://...]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/controller/store/postgres"
	"github.com/nines-sre/nines/controller/store/postgres/pgtest"
	"github.com/nines-sre/nines/controller/store/sqlite"
	"github.com/nines-sre/nines/controller/store/storetest"
	"github.com/nines-sre/nines/model"
)

func main() {
	checks := flag.Int("checks", 100, "checks (each with a result a minute in 7 regions, for a day)")
	database := flag.String("database", "", "a postgres:// URL: also measure PostgreSQL, in a schema of its own")
	flag.Parse()
	ctx := context.Background()
	day := time.Now().UTC().Truncate(24 * time.Hour).Add(-10 * 24 * time.Hour)
	results := int64(*checks) * 7 * 1440
	fmt.Printf("storage: a day of results of %d checks × 7 regions (%d results)\n\n", *checks, results)
	fmt.Printf("%-28s %10s %12s %14s\n", "backend", "B/result", "GB/day@50k", "TB/14d@50k")
	row := func(name string, bytes int64) {
		per := float64(bytes) / float64(results)
		perDay := per * 50_000 * 7 * 1440
		fmt.Printf("%-28s %10.1f %12.1f %14.2f\n", name, per, perDay/1e9, perDay*14/1e12)
	}
	dir, err := os.MkdirTemp("", "nines-storage")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	lite, err := sqlite.Open(ctx, filepath.Join(dir, "nines.db"))
	if err != nil {
		fail(err)
	}
	n, err := measure(ctx, lite, *checks, day, nil)
	lite.Close()
	if err != nil {
		fail(err)
	}
	row("sqlite", n)
	if *database == "" {
		return
	}
	schema, drop, err := pgtest.NewSchema(ctx, *database, "nines_storage_")
	if err != nil {
		fail(err)
	}
	defer drop()
	pg, err := postgres.Open(ctx, schema)
	if err != nil {
		fail(err)
	}
	defer pg.Close()
	if _, err := pg.MaintainPartitions(ctx, day, day); err != nil {
		fail(err)
	}
	vacuum := func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, schema)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, `VACUUM dirty`)
		return err
	}
	n, err = measure(ctx, pg, *checks, day, vacuum)
	if err != nil {
		fail(err)
	}
	row("postgres, day partition", n)
	base, _ := pg.DiskBytes(ctx)
	if _, err := pg.PackResults(ctx, day.Add(24*time.Hour)); err != nil {
		fail(err)
	}
	after, err := pg.DiskBytes(ctx)
	if err != nil {
		fail(err)
	}
	row("postgres, packed day", n-(base-after))
}

// measure stores a day in s, clears the slicing marks as the slicer does
// (then vacuum, when given, reclaims their space), and returns how many
// bytes the store grew by.
func measure(ctx context.Context, s store.Store, checks int, day time.Time, vacuum func(context.Context) error) (int64, error) {
	before, err := s.DiskBytes(ctx)
	if err != nil {
		return 0, err
	}
	started := time.Now()
	err = storetest.Day(checks, day, func(rs []model.Result) error {
		_, err := s.InsertResults(ctx, rs)
		return err
	})
	if err != nil {
		return 0, err
	}
	for {
		d, err := s.DirtyMinutes(ctx, 100_000)
		if err != nil {
			return 0, err
		}
		if len(d.Checks) == 0 {
			break
		}
		for check, marked := range d.Checks {
			if err := s.PutSlices(ctx, check, nil, marked, d.Seq); err != nil {
				return 0, err
			}
		}
	}
	if vacuum != nil {
		if err := vacuum(ctx); err != nil {
			return 0, err
		}
	}
	after, err := s.DiskBytes(ctx)
	fmt.Fprintf(os.Stderr, "stored in %s\n", time.Since(started).Round(time.Second))
	return after - before, err
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "storage:", err)
	os.Exit(1)
}
