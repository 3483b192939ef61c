package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nines-sre/nines/model"
	"github.com/nines-sre/nines/transport"
)

// NATS consumes result batches from NATS JetStream, one durable
// consumer for each of this deployment's scopes (its configured name, or
// each probe token's own), following the configuration as it is reloaded.
// A message is acknowledged only once its results are committed. A stream
// or consumer that cannot be set up is tried again with backoff, and
// /readyz says so meanwhile.
func (g *Ingester) NATS(ctx context.Context, url string, wait time.Duration) {
	nc, js, err := transport.Connect(url, "nines-controller")
	if err != nil {
		g.nats.set("connection", err)
		g.o.Log.Error("NATS transport unavailable", "url", url, "err", err)
		return
	}
	defer nc.Close()
	var consumers sync.WaitGroup
	running := map[string]context.CancelFunc{}
	defer func() {
		for _, stop := range running {
			stop()
		}
		consumers.Wait()
	}()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		scopes := g.o.Config().NATSScopes()
		for scope, stop := range running {
			if !slices.Contains(scopes, scope) {
				stop()
				delete(running, scope)
				g.nats.set(scope, nil)
				g.o.Log.Info("no longer taking results from NATS", "stream", transport.StreamName(scope))
			}
		}
		for _, scope := range scopes {
			if running[scope] != nil {
				continue
			}
			sctx, stop := context.WithCancel(ctx)
			running[scope] = stop
			g.nats.set(scope, errors.New("starting"))
			g.o.Log.Info("taking results from NATS JetStream", "url", url, "stream", transport.StreamName(scope))
			consumers.Go(func() { g.consume(sctx, js, scope, wait) })
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// consume runs scope's consumer until ctx is done, setting it up again
// with backoff (1 s to 30 s) whenever it stops.
func (g *Ingester) consume(ctx context.Context, js jetstream.JetStream, scope string, wait time.Duration) {
	stream := transport.StreamName(scope)
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval = time.Second, 30*time.Second
	bo.Reset()
	o := transport.ConsumeOptions{Wait: wait,
		OnErr: func(err error) { g.o.Log.Warn("NATS transport", "stream", stream, "err", err) },
		OnFetch: func(err error) {
			g.nats.set(scope, err)
			if err == nil {
				bo.Reset()
			}
		}}
	for ctx.Err() == nil {
		err := transport.Consume(ctx, js, scope, func(ctx context.Context, m transport.Message) error {
			return g.natsBatch(ctx, scope, m)
		}, o)
		if err == nil {
			return
		}
		g.nats.set(scope, err)
		next := bo.NextBackOff()
		g.o.Log.Error("NATS transport stopped; retrying", "stream", stream, "retry_in", next.Round(time.Millisecond), "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(next):
		}
	}
	g.nats.set(scope, nil)
}

// natsHealth is what stands between each NATS stream and its consumer,
// for /readyz.
type natsHealth struct {
	mu       sync.Mutex
	problems map[string]string // scope (or "connection") → error
}

// set records err for key; nil clears it.
func (h *natsHealth) set(key string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		delete(h.problems, key)
		return
	}
	if h.problems == nil {
		h.problems = map[string]string{}
	}
	h.problems[key] = err.Error()
}

// NATSProblem names the first stream (in name order) not consumed and
// why; empty when every one is (or NATS is not used).
func (g *Ingester) NATSProblem() string { return g.nats.problem() }

// problem names the first stream (in name order) not consumed and why;
// empty when every one is.
func (h *natsHealth) problem() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	keys := slices.Sorted(maps.Keys(h.problems))
	if len(keys) == 0 {
		return ""
	}
	name := keys[0]
	if name != "connection" {
		name = "stream " + transport.StreamName(name)
	}
	return fmt.Sprintf("NATS %s: %s", name, h.problems[keys[0]])
}

// natsBatch stores the batch of one message of scope's stream. A
// message is dropped for good only when it can never be stored (broken, or
// its token belongs to another scope); a batch with a token or checks this
// controller's configuration does not know is held and offered again, since
// a newer configuration may know them.
func (g *Ingester) natsBatch(ctx context.Context, scope string, m transport.Message) error {
	cfg := g.o.Config()
	gz, data := m.Gzipped, m.Data
	var region string
	var sum [32]byte
	if m.Token != "" { // a probe from before signed batches
		region, sum = cfg.TokenRegion(m.Token)
	} else {
		region, sum = cfg.KeyRegion(m.Key)
		if region != "" && !transport.Verify(sum, m.Subject, m.MsgID, data, m.Signature) {
			g.Counted("403")
			return fmt.Errorf("%s: a batch whose signature does not hold (forged or altered): %w", transport.StreamName(scope), transport.ErrRejected)
		}
	}
	if region == "" {
		g.Counted("held")
		return fmt.Errorf("%s: a batch with a probe token the configuration does not hold: %w", transport.StreamName(scope), transport.ErrWait)
	}
	if scope != cfg.NATS.Deployment && transport.TokenScope(sum) != scope {
		g.Counted("403")
		return fmt.Errorf("%s: a batch with a token of another stream: %w", transport.StreamName(scope), transport.ErrRejected)
	}
	var batch model.ResultBatch
	if be := g.decoder.Stream(ctx, bytes.NewReader(data), gz, gz || len(data) > LargeBody, &batch, MaxBatchBytes); be != nil {
		g.Counted(fmt.Sprint(be.Code))
		if be.Code >= http.StatusInternalServerError || ctx.Err() != nil {
			// Not the batch's fault (a shutdown, no decoder free): it is
			// offered again, never dropped.
			return fmt.Errorf("batch from %s: %s", region, be.Msg)
		}
		return fmt.Errorf("batch from %s: %s: %w", region, be.Msg, transport.ErrRejected)
	}
	_, held, ierr := g.Batch(ctx, region, &batch, true)
	if ierr != nil {
		g.Counted(fmt.Sprint(ierr.Code))
		if ierr.Code == http.StatusInternalServerError {
			return fmt.Errorf("batch from %s: %s", region, ierr.Msg)
		}
		return fmt.Errorf("batch from %s: %s: %w", region, ierr.Msg, transport.ErrRejected)
	}
	if held > 0 {
		// The rest is stored; when the message comes again it counts as
		// duplicates.
		g.Counted("held")
		return fmt.Errorf("batch from %s: %d results of checks the configuration does not hold: %w", region, held, transport.ErrWait)
	}
	g.Counted("200")
	return nil
}
