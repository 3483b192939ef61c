package controller

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/nines-sre/nines/config"
)

// Every test leaves no goroutine of the controller's behind: each loop
// has an owner that waits for it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// database/sql's connection opener lives as long as its DB, which
		// a test's cleanup closes after the check.
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"),
		// The tests' own HTTP clients keep idle connections.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}

// newController is a controller on a fresh SQLite store that does not serve.
func newController(t testing.TB, yaml string, now func() time.Time) *Controller {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(context.Background(), Options{Config: cfg, DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registry: prometheus.NewRegistry(), Now: now, PublishEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
