package transport_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nines-sre/nines/controller"
	"github.com/nines-sre/nines/internal/natstest"
	"github.com/nines-sre/nines/model"
	"github.com/nines-sre/nines/transport"
)

// BenchmarkIngestThroughNATS publishes batches of 1,000 results to
// JetStream with the controller away, then starts it and reports how fast
// its consumer stores them into SQLite.
func BenchmarkIngestThroughNATS(b *testing.B) {
	ns := natstest.Start(b, "")
	cfg := natstest.Config(b, "nats-bench-token-00001")
	ctx := context.Background()
	pub, err := transport.NewPublisher(ns.ClientURL(), "eu-london", "nats-bench-token-00001", "bench")
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	const batch = 1000
	t0 := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	for i := range b.N {
		rs := make([]model.Result, batch)
		for k := range rs {
			at := t0.Add(time.Duration(i*batch+k) * time.Millisecond)
			rs[k] = model.Result{Check: "n", Region: "eu-london", Scheduled: at, Started: at, Probe: "bench", DurationUS: 1234,
				Outcome: model.OutcomeUp, HTTPStatus: 200, Phases: model.Phases{DNS: 10, Connect: 80, TTFB: 900, Transfer: 40}, Bytes: 512}
		}
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		json.NewEncoder(zw).Encode(model.ResultBatch{Probe: "bench", Results: rs})
		zw.Close()
		if err := pub.Publish(ctx, fmt.Sprint("bench-", i), buf.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
	dir := b.TempDir()
	b.ResetTimer()
	start := time.Now()
	cctx, cancel := context.WithCancel(ctx)
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- controller.Run(cctx, controller.Options{Config: cfg, DataDir: filepath.Join(dir, "ctl"), Listen: "127.0.0.1:0", Ready: ready,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: prometheus.NewRegistry(), NATSURL: ns.ClientURL()})
	}()
	addr := <-ready
	want := b.N * batch
	for {
		var res struct{ Results []json.RawMessage }
		if err := getJSON("http://"+addr+"/api/v1/results?check=n&since="+t0.Add(time.Duration(want-1)*time.Millisecond).UTC().Format(time.RFC3339Nano), &res); err == nil && len(res.Results) == 1 {
			break
		}
		if time.Since(start) > 2*time.Minute {
			b.Fatal("the backlog was not stored within two minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.ReportMetric(float64(want)/time.Since(start).Seconds(), "results/s")
	cancel()
	<-done
}
