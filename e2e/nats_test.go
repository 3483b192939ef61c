package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller"
	"github.com/nines-sre/nines/internal/natstest"
	"github.com/nines-sre/nines/internal/testwait"
	"github.com/nines-sre/nines/probe"
	"github.com/nines-sre/nines/transport"
)

// natsServer is the machine's NATS when NINES_TEST_NATS_URL is set, else
// one in this process with JetStream. On the machine's, the streams of the
// scopes given are emptied first and removed at the end.
func natsServer(t *testing.T, scopes ...string) string {
	t.Helper()
	if u := os.Getenv("NINES_TEST_NATS_URL"); u != "" {
		nc, err := nats.Connect(u)
		if err != nil {
			t.Fatalf("NINES_TEST_NATS_URL: %v", err)
		}
		js, _ := jetstream.New(nc)
		drop := func() {
			for _, s := range scopes {
				_ = js.DeleteStream(context.Background(), transport.StreamName(s))
			}
		}
		drop()
		t.Cleanup(func() { drop(); nc.Close() })
		return u
	}
	return natstest.Start(t, "").ClientURL()
}

// tokenScope is the default NATS scope of a probe token.
func tokenScope(token string) string { return transport.TokenScope(sha256.Sum256([]byte(token))) }

// TestNATSTransportLosesNothingWhileTheControllerIsDown: probes publish to
// JetStream; the controller is stopped for a while and restarted; every
// result is then stored, once, with no gap.
func TestNATSTransportLosesNothingWhileTheControllerIsDown(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	url := natsServer(t, tokenScope("nats-test-token-000001"))
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer target.Close()
	var cfgText bytes.Buffer
	fmt.Fprintf(&cfgText, "regions: [{id: eu-london}]\nquorum: 1\nprobes:\n  heartbeat_interval: 500ms\n  tokens: [{region: eu-london, token: nats-test-token-000001}]\ncomponents:\n  - id: c\n    checks:\n")
	for i := range 3 {
		fmt.Fprintf(&cfgText, "      - {id: n%d, kind: http, interval: 1s, timeout: 500ms, http: {url: %q}}\n", i, target.URL)
	}
	cfg, err := config.Parse("nats.yaml", cfgText.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	runController := func(ctx context.Context) chan error {
		done := make(chan error, 1)
		ready := make(chan string, 1)
		go func() {
			done <- controller.Run(ctx, controller.Options{Config: cfg, DataDir: filepath.Join(dir, "ctl"), Listen: addr, Logger: quiet,
				Registry: prometheus.NewRegistry(), NATSURL: url, Ready: ready})
		}()
		select {
		case <-ready:
		case err := <-done:
			t.Fatal(err)
		}
		return done
	}
	ctx1, stop1 := context.WithCancel(context.Background())
	done1 := runController(ctx1)
	pctx, stopProbe := context.WithCancel(context.Background())
	probeDone := make(chan error, 1)
	go func() {
		probeDone <- probe.Run(pctx, probe.Options{Region: "eu-london", ProbeID: "nats-1", Controller: "http://" + addr, Token: "nats-test-token-000001",
			SpoolPath: filepath.Join(dir, "spool.db"), NATSURL: url, Logger: quiet, Registry: prometheus.NewRegistry(), MaxBackoff: 500 * time.Millisecond})
	}()
	defer func() { stopProbe(); <-probeDone }()
	from := time.Now().Add(2 * time.Second)
	time.Sleep(4 * time.Second) // the first controller's share of the scenario
	stop1()
	if err := <-done1; err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second) // the probe publishes on; nobody consumes
	ctx2, stop2 := context.WithCancel(context.Background())
	defer func() { stop2() }()
	runController(ctx2)
	to := time.Now().Add(-time.Second)
	testwait.Eventually(t, 20*time.Second, "every result across the controller's absence stored", func() error {
		var problems []string
		for i := range 3 {
			var res struct {
				Results []struct {
					Scheduled time.Time `json:"scheduled"`
				} `json:"results"`
			}
			u := fmt.Sprintf("http://%s/api/v1/results?check=n%d&since=%s&until=%s&limit=10000&order=oldest", addr, i, from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano))
			if err := getJSON(u, &res); err != nil {
				problems = append(problems, err.Error())
				continue
			}
			if want := int(to.Sub(from)/time.Second) - 1; len(res.Results) < want {
				problems = append(problems, fmt.Sprintf("n%d: %d results, want %d or more", i, len(res.Results), want))
			}
			for k := 1; k < len(res.Results); k++ {
				if gap := res.Results[k].Scheduled.Sub(res.Results[k-1].Scheduled); gap != time.Second {
					problems = append(problems, fmt.Sprintf("n%d: gap of %s", i, gap))
				}
			}
		}
		if len(problems) > 0 {
			return errors.New(strings.Join(problems, "\n"))
		}
		return nil
	})
}

// TestNATSUnreachableAtStartIsRetriedAndReported: a controller started
// before its NATS server says so in /readyz, and takes results once the
// server comes up, without a restart.
func TestNATSUnreachableAtStartIsRetriedAndReported(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	natsAddr := freeAddr(t)
	cfg := natstest.Config(t, "nats-late-token-000001")
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan string, 1)
	go func() {
		done <- controller.Run(ctx, controller.Options{Config: cfg, DataDir: t.TempDir(), Listen: addr,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: prometheus.NewRegistry(), NATSURL: "nats://" + natsAddr, Ready: ready})
	}()
	defer func() { cancel(); <-done }()
	<-ready
	readyz := func() (int, string) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	testwait.Eventually(t, 10*time.Second, "/readyz saying NATS is away", func() error {
		if code, body := readyz(); code != http.StatusServiceUnavailable || !strings.Contains(body, "NATS") {
			return fmt.Errorf("%d %q", code, body)
		}
		return nil
	})

	natstest.Start(t, natsAddr)
	testwait.Eventually(t, 45*time.Second, "/readyz ready once NATS is up", func() error {
		if code, body := readyz(); code != http.StatusOK {
			return fmt.Errorf("%d %q", code, body)
		}
		return nil
	})
}
