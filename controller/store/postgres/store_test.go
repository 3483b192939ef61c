package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/controller/store/postgres/pgtest"
	"github.com/nines-sre/nines/controller/store/storetest"
	"github.com/nines-sre/nines/model"
)

func TestContract(t *testing.T) {
	dsn := pgtest.DSN(t)
	storetest.Run(t, func(t *testing.T) func() (store.Store, error) {
		schema := pgtest.Schema(t, dsn)
		return func() (store.Store, error) { return Open(context.Background(), schema) }
	})
}

func TestMigrationsAreRecordedOnce(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t, pgtest.DSN(t))
	// Replicas starting together migrate once.
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			s, err := Open(ctx, dsn)
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != 4 {
		t.Fatalf("schema_migrations: %d %v", n, err)
	}
}

func TestRedact(t *testing.T) {
	if got := Redact("postgres://nines:s3cret@db:5432/nines?sslmode=require"); got != "postgres://nines:xxxxx@db:5432/nines?sslmode=require" {
		t.Fatalf("redacted: %s", got)
	}
	if _, err := Open(context.Background(), "postgres://nines:s3cret@127.0.0.1:1/x?connect_timeout=1"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error of an unreachable database: %v", err)
	}
}

func TestLatestSinceReadsOnlyWhatIsNew(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, pgtest.Schema(t, pgtest.DSN(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	if _, err := s.InsertResults(ctx, []model.Result{storetest.Result("a", "eu-london", t0, model.OutcomeUp), storetest.Result("b", "eu-london", t0, model.OutcomeUp)}); err != nil {
		t.Fatal(err)
	}
	all, cursor, err := s.LatestSince(ctx, 0)
	if err != nil || len(all) != 2 || cursor == 0 {
		t.Fatalf("first read: %d results, cursor %d, %v", len(all), cursor, err)
	}
	// Rows stored more than the overlap before the cursor are not read again.
	if _, err := s.pool.Exec(ctx, `UPDATE results SET ingested_at = ingested_at - 60000`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.InsertResults(ctx, []model.Result{storetest.Result("a", "eu-london", t0.Add(time.Minute), model.OutcomeDown)}); err != nil {
		t.Fatal(err)
	}
	rs, next, err := s.LatestSince(ctx, cursor)
	if err != nil || len(rs) != 1 || rs[0].Check != "a" || rs[0].Outcome != model.OutcomeDown || next < cursor {
		t.Fatalf("incremental read: %+v, cursor %d, %v", rs, next, err)
	}
}
