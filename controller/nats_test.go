package controller

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nines-sre/nines/model"
	"github.com/nines-sre/nines/transport"
)

// A batch that arrives while the controller shuts down is offered again,
// never dropped as broken; a broken one is.
func TestNATSBatchAtShutdownIsOfferedAgain(t *testing.T) {
	h := newHarnessAt(t, testConfig, t.TempDir(), &clock{t: time.Now().UTC()})
	token := "london-token-0123456789"
	scope := transport.TokenScope(sha256.Sum256([]byte(token)))
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	json.NewEncoder(zw).Encode(model.ResultBatch{Probe: "p", Results: []model.Result{h.result("api-health", "eu-london", 0, model.OutcomeUp)}})
	zw.Close()

	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	err := h.c.handleNATSBatch(stopped, scope, token, true, buf.Bytes())
	if err == nil || errors.Is(err, transport.ErrRejected) {
		t.Fatalf("a batch handled during shutdown: %v, want an error to retry, not a rejection", err)
	}
	if err := h.c.handleNATSBatch(context.Background(), scope, token, true, buf.Bytes()); err != nil {
		t.Fatalf("the same batch offered again: %v", err)
	}
	if err := h.c.handleNATSBatch(context.Background(), scope, token, true, []byte("not gzip")); !errors.Is(err, transport.ErrRejected) {
		t.Fatalf("a broken batch: %v, want a rejection", err)
	}
}
