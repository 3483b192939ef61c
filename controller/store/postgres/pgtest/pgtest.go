// Package pgtest gives tests and benchmarks a PostgreSQL schema of their
// own.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// DSN returns $NINES_TEST_PG_DSN, skipping t when it is not set.
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("NINES_TEST_PG_DSN")
	if dsn == "" {
		t.Skip("NINES_TEST_PG_DSN not set (e.g. postgres://postgres@127.0.0.1:5432/test)")
	}
	return dsn
}

// Schema creates a schema of its own for t in the database at dsn,
// dropped when t ends, and returns dsn pointing at it.
func Schema(t testing.TB, dsn string) string {
	t.Helper()
	scoped, drop, err := NewSchema(context.Background(), dsn, "nines_test_")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(drop)
	return scoped
}

// NewSchema creates a schema named prefix and random hex in the database
// at dsn, and returns dsn pointing at it and a function that drops it.
func NewSchema(ctx context.Context, dsn, prefix string) (string, func(), error) {
	b := make([]byte, 6)
	rand.Read(b)
	name := prefix + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", nil, fmt.Errorf("connect %s: %w", redact(dsn), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+name); err != nil {
		return "", nil, fmt.Errorf("create schema: %w", err)
	}
	drop := func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		conn.Exec(ctx, `DROP SCHEMA `+name+` CASCADE`)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		drop()
		return "", nil, fmt.Errorf("database URL: %w", err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}

func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil {
		return u.Redacted()
	}
	return "(unparsable database URL)"
}
