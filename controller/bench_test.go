package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/controller/store/postgres/pgtest"
	"github.com/nines-sre/nines/model"
)

// BenchmarkIngestAPI posts batches of 1,000 results through POST
// /api/v1/results into a real SQLite file, and into PostgreSQL when
// NINES_TEST_PG_DSN is set, and reports results per second: from one probe
// at a time, and from four at once.
func BenchmarkIngestAPI(b *testing.B) {
	for _, streams := range []int{1, 4} {
		b.Run(fmt.Sprintf("sqlite/streams=%d", streams), func(b *testing.B) { benchIngest(b, "", streams) })
		b.Run(fmt.Sprintf("postgres/streams=%d", streams), func(b *testing.B) { benchIngest(b, pgtest.Schema(b, pgtest.DSN(b)), streams) })
	}
}

func benchIngest(b *testing.B, database string, streams int) {
	cfg, err := config.Parse("bench.yaml", []byte(testConfig))
	if err != nil {
		b.Fatal(err)
	}
	c, err := New(context.Background(), Options{Config: cfg, DataDir: b.TempDir(), Database: database, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registry: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	// Retention as the leader runs it first: on PostgreSQL, the day
	// partitions the results go to.
	if err := c.Prune(context.Background()); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	const batch = 1000
	t0 := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	bodies := make([][]byte, 0, b.N)
	for i := range b.N {
		rs := make([]model.Result, batch)
		for k := range rs {
			at := t0.Add(time.Duration(i*batch+k) * time.Millisecond)
			rs[k] = model.Result{Check: "api-health", Region: "eu-london", Scheduled: at, Started: at, Probe: "bench", DurationUS: 1234,
				Outcome: model.OutcomeUp, HTTPStatus: 200, Phases: model.Phases{DNS: 10, Connect: 80, TTFB: 900, Transfer: 40}, Bytes: 512}
		}
		body, _ := json.Marshal(model.ResultBatch{Probe: "bench", Results: rs})
		bodies = append(bodies, body)
	}
	b.ResetTimer()
	start := time.Now()
	errs := make(chan error, streams)
	for w := range streams {
		go func() {
			for i := w; i < b.N; i += streams {
				req, _ := http.NewRequest("POST", srv.URL+"/api/v1/results", bytes.NewReader(bodies[i]))
				req.Header.Set("Authorization", "Bearer "+tokens["eu-london"])
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("status %d", resp.StatusCode)
					return
				}
			}
			errs <- nil
		}()
	}
	for range streams {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "results/s")
	n, _ := c.store.CountResults(context.Background())
	if n != int64(b.N*batch) {
		b.Fatalf("stored %d, want %d", n, b.N*batch)
	}
	size, err := c.store.DiskBytes(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(size)/float64(n), "disk-bytes/result")
}

// BenchmarkStatusAPI5000Checks answers GET /api/v1/status for 5,000 checks
// in 7 regions, every region with a fresh result; uncached.
func BenchmarkStatusAPI5000Checks(b *testing.B) {
	var cfg strings.Builder
	regions := []string{"ca-central", "us-ohio", "us-oregon", "ap-sydney", "ap-tokyo", "eu-frankfurt", "eu-london"}
	cfg.WriteString("regions:\n")
	for _, r := range regions {
		fmt.Fprintf(&cfg, "  - {id: %s}\n", r)
	}
	cfg.WriteString("probes:\n  tokens: [{region: eu-london, token: bench-token-000000001}]\ncomponents:\n")
	for comp := range 50 {
		fmt.Fprintf(&cfg, "  - id: comp-%02d\n    checks:\n", comp)
		for i := range 100 {
			fmt.Fprintf(&cfg, "      - {id: c-%02d-%03d, kind: http, http: {url: \"http://127.0.0.1:9/%d\"}}\n", comp, i, i)
		}
	}
	c := newController(b, cfg.String(), time.Now)
	now := time.Now()
	for _, ch := range c.Config().AllChecks() {
		for _, r := range regions {
			c.latest.Offer(model.Result{Check: ch.ID, Region: r, Scheduled: now, Started: now, DurationUS: 1234, Outcome: model.OutcomeUp})
		}
	}
	for _, r := range regions {
		c.probes.Registry.Heartbeat(store.Probe{ID: "p-" + r, Region: r, LastHeartbeat: now}, time.Minute)
	}
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	var times []time.Duration
	for b.Loop() {
		t0 := time.Now()
		resp, err := http.Get(srv.URL + "/api/v1/status")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		times = append(times, time.Since(t0))
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, "p99-ms")
}
