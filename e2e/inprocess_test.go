package e2e

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller"
	"github.com/nines-sre/nines/probe"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// inProcess serves a controller of the configuration yaml in this process,
// until the test ends.
func inProcess(t *testing.T, yaml string) *httptest.Server {
	t.Helper()
	c, err := config.Parse("inprocess.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := controller.New(context.Background(), controller.Options{Config: c, DataDir: t.TempDir(), Logger: quiet, Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ctl.Handler())
	t.Cleanup(func() { srv.Close(); ctl.Close() })
	return srv
}

// runProbe runs a probe in this process until ctx is done; its outcome
// comes on the channel.
func runProbe(ctx context.Context, controllerURL, region, id, token, dir string) chan error {
	done := make(chan error, 1)
	go func() {
		done <- probe.Run(ctx, probe.Options{Region: region, ProbeID: id, Controller: controllerURL, Token: token,
			SpoolPath: filepath.Join(dir, id+".db"), MaxBackoff: 300 * time.Millisecond, Logger: quiet, Registry: prometheus.NewRegistry()})
	}()
	return done
}
