package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/controller/store/postgres/pgtest"
	"github.com/nines-sre/nines/controller/store/storetest"
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
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != 3 {
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
