// Package pgtest gives tests a PostgreSQL schema of their own.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	name := "nines_test_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect %s: %v", redact(dsn), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+name); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		conn.Exec(ctx, `DROP SCHEMA `+name+` CASCADE`)
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil {
		return u.Redacted()
	}
	return "(unparsable database URL)"
}
