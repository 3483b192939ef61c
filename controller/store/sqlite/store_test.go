package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/controller/store/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func() (store.Store, error) {
		path := filepath.Join(t.TempDir(), "nines.db")
		return func() (store.Store, error) { return Open(context.Background(), path) }
	})
}

func TestMigrationsAreRecorded(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "nines.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want, _ := store.Migrations(migrations, "migrations")
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(want) {
		t.Fatalf("schema_migrations: %d %v", n, err)
	}
	var mode string
	if err := s.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal mode %q %v", mode, err)
	}
}
