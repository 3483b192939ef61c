package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/store/sqlite/sqlitetest"
	"github.com/nines-sre/nines/model"
	"github.com/nines-sre/nines/transport"
)

const testConfig = `regions: [{id: eu-london}, {id: eu-frankfurt}]
probes:
  tokens: [{region: eu-london, token: london-token-0123456789}]
components:
  - id: api
    checks:
      - {id: api-health, kind: http, http: {url: "http://127.0.0.1:9/health"}}
`

// newIngester is an ingester on a fresh SQLite store; stored collects
// what it reports as newly stored.
func newIngester(t *testing.T) (g *Ingester, stored *[]model.Result) {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	st := sqlitetest.Open(t)
	counter := func(name, label string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name}, []string{label})
	}
	stored = new([]model.Result)
	g = New(Options{Store: st, Config: func() *config.Config { return cfg }, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		RawRetention: 24 * time.Hour, Stored: func(rs []model.Result) { *stored = append(*stored, rs...) },
		Metrics: Metrics{Results: counter("results", "outcome"), Batches: counter("batches", "code"), Skew: counter("skew", "region")}})
	return g, stored
}

func gzipBatch(t *testing.T, b model.ResultBatch) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(b); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return buf.Bytes()
}

// A batch that arrives while the controller shuts down is offered again,
// never dropped as broken; a broken one is.
func TestNATSBatchAtShutdownIsOfferedAgain(t *testing.T) {
	g, stored := newIngester(t)
	token := "london-token-0123456789"
	scope := transport.TokenScope(sha256.Sum256([]byte(token)))
	at := time.Now().UTC().Truncate(time.Second)
	data := gzipBatch(t, model.ResultBatch{Probe: "p", Results: []model.Result{
		{Check: "api-health", Region: "eu-london", Scheduled: at, Started: at, Outcome: model.OutcomeUp}}})

	key := sha256.Sum256([]byte(token))
	subject := transport.Subject(scope, "eu-london")
	signed := func(data []byte) transport.Message {
		return transport.Message{Subject: subject, MsgID: "m1", Key: transport.KeyID(key), Signature: transport.Sign(key, subject, "m1", data),
			Gzipped: true, Data: data}
	}
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	err := g.natsBatch(stopped, scope, signed(data))
	if err == nil || errors.Is(err, transport.ErrRejected) {
		t.Fatalf("a batch handled during shutdown: %v, want an error to retry, not a rejection", err)
	}
	if err := g.natsBatch(context.Background(), scope, signed(data)); err != nil {
		t.Fatalf("the same batch offered again: %v", err)
	}
	if len(*stored) != 1 || (*stored)[0].Probe != "p" {
		t.Fatalf("stored %+v, want the one result with the batch's probe", *stored)
	}
	if err := g.natsBatch(context.Background(), scope, signed([]byte("not gzip"))); !errors.Is(err, transport.ErrRejected) {
		t.Fatalf("a broken batch: %v, want a rejection", err)
	}
	// Altered on the way (or forged by another tenant of the server): the
	// signature does not hold, and the batch is refused for good.
	forged := signed(data)
	forged.Data = gzipBatch(t, model.ResultBatch{Probe: "p", Results: []model.Result{
		{Check: "api-health", Region: "eu-london", Scheduled: at.Add(time.Second), Started: at, Outcome: model.OutcomeDown}}})
	if err := g.natsBatch(context.Background(), scope, forged); !errors.Is(err, transport.ErrRejected) || len(*stored) != 1 {
		t.Fatalf("an altered batch: %v, %d stored", err, len(*stored))
	}
	// A probe from before signed batches still sends its token.
	legacy := transport.Message{Token: token, Gzipped: true, Data: gzipBatch(t, model.ResultBatch{Probe: "p", Results: []model.Result{
		{Check: "api-health", Region: "eu-london", Scheduled: at.Add(2 * time.Second), Started: at, Outcome: model.OutcomeUp}}})}
	if err := g.natsBatch(context.Background(), scope, legacy); err != nil || len(*stored) != 2 {
		t.Fatalf("a batch with a token: %v, %d stored", err, len(*stored))
	}
}

// A batch is taken whole: results of another region refuse it; invalid,
// unknown, too old and future results are rejected one by one with their
// index; a duplicate is counted, not stored again.
func TestBatchValidation(t *testing.T) {
	g, stored := newIngester(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	res := func(check string, at time.Time) model.Result {
		return model.Result{Check: check, Region: "eu-london", Scheduled: at, Started: at, Outcome: model.OutcomeUp}
	}
	_, _, ierr := g.Batch(ctx, "eu-london", &model.ResultBatch{Probe: "p", Results: []model.Result{
		{Check: "api-health", Region: "eu-frankfurt", Scheduled: now, Started: now, Outcome: model.OutcomeUp}}}, false)
	if ierr == nil || ierr.Code != 403 || ierr.Field != "results[0].region" {
		t.Fatalf("another region's result: %+v, want 403 on results[0].region", ierr)
	}
	batch := &model.ResultBatch{Probe: "p", Results: []model.Result{
		res("api-health", now),
		res("nope", now),
		res("api-health", now.Add(-48*time.Hour)),
		res("api-health", now.Add(2*time.Hour)),
	}}
	ack, held, ierr := g.Batch(ctx, "eu-london", batch, false)
	if ierr != nil || held != 0 || ack.Stored != 1 || len(ack.Rejected) != 3 {
		t.Fatalf("ack %+v held %d err %v, want 1 stored and 3 rejected", ack, held, ierr)
	}
	for i, want := range []string{"results[1].check", "results[2].scheduled", "results[3].scheduled"} {
		if r := ack.Rejected[i]; r.Index != i+1 || !bytes.HasPrefix([]byte(r.Error), []byte(want)) {
			t.Errorf("rejection %d: %+v, want index %d and %s", i, r, i+1, want)
		}
	}
	// With hold, a check the configuration does not know is kept back.
	ack, held, _ = g.Batch(ctx, "eu-london", &model.ResultBatch{Probe: "p", Results: []model.Result{res("api-health", now), res("nope", now)}}, true)
	if ack.Duplicates != 1 || ack.Stored != 0 || held != 1 || len(*stored) != 1 {
		t.Fatalf("ack %+v held %d, %d stored in all: want 1 duplicate, 1 held, still 1 stored", ack, held, len(*stored))
	}
}
