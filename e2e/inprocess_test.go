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

// inProcessNATS runs a controller of the configuration yaml in this
// process, consuming results from the NATS at natsURL, until the test
// ends; it returns the controller's base URL.
func inProcessNATS(t *testing.T, yaml, natsURL string) string {
	t.Helper()
	c, err := config.Parse("inprocess.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done, ready := make(chan error, 1), make(chan string, 1)
	go func() {
		done <- controller.Run(ctx, controller.Options{Config: c, DataDir: t.TempDir(), Listen: "127.0.0.1:0", Logger: quiet,
			Registry: prometheus.NewRegistry(), NATSURL: natsURL, Ready: ready})
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return "http://" + addr
}

// runProbe runs a probe in this process until ctx is done, shipping its
// results by NATS when natsURL is set; its outcome comes on the channel.
func runProbe(ctx context.Context, controllerURL, natsURL, region, id, token, dir string) chan error {
	done := make(chan error, 1)
	go func() {
		done <- probe.Run(ctx, probe.Options{Region: region, ProbeID: id, Controller: controllerURL, Token: token, NATSURL: natsURL,
			SpoolPath: filepath.Join(dir, id+".db"), MaxBackoff: 300 * time.Millisecond, Logger: quiet, Registry: prometheus.NewRegistry()})
	}()
	return done
}
