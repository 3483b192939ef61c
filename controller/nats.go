package controller

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

// natsLoop consumes result batches from NATS JetStream, one durable
// consumer for each of this deployment's scopes (its configured name, or
// each probe token's own), following the configuration as it is reloaded.
// A message is acknowledged only once its results are committed. A stream
// or consumer that cannot be set up is tried again with backoff, and
// /readyz says so meanwhile.
func (c *Controller) natsLoop(ctx context.Context, url string, wait time.Duration) {
	nc, js, err := transport.Connect(url, "nines-controller")
	if err != nil {
		c.nats.set("connection", err)
		c.log.Error("NATS transport unavailable", "url", url, "err", err)
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
		scopes := c.Config().NATSScopes()
		for scope, stop := range running {
			if !slices.Contains(scopes, scope) {
				stop()
				delete(running, scope)
				c.nats.set(scope, nil)
				c.log.Info("no longer taking results from NATS", "stream", transport.StreamName(scope))
			}
		}
		for _, scope := range scopes {
			if running[scope] != nil {
				continue
			}
			sctx, stop := context.WithCancel(ctx)
			running[scope] = stop
			c.nats.set(scope, errors.New("starting"))
			c.log.Info("taking results from NATS JetStream", "url", url, "stream", transport.StreamName(scope))
			consumers.Go(func() { c.consume(sctx, js, scope, wait) })
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
func (c *Controller) consume(ctx context.Context, js jetstream.JetStream, scope string, wait time.Duration) {
	stream := transport.StreamName(scope)
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval = time.Second, 30*time.Second
	bo.Reset()
	o := transport.ConsumeOptions{Wait: wait,
		OnErr: func(err error) { c.log.Warn("NATS transport", "stream", stream, "err", err) },
		OnFetch: func(err error) {
			c.nats.set(scope, err)
			if err == nil {
				bo.Reset()
			}
		}}
	for ctx.Err() == nil {
		err := transport.Consume(ctx, js, scope, func(ctx context.Context, token string, gz bool, data []byte) error {
			return c.handleNATSBatch(ctx, scope, token, gz, data)
		}, o)
		if err == nil {
			return
		}
		c.nats.set(scope, err)
		next := bo.NextBackOff()
		c.log.Error("NATS transport stopped; retrying", "stream", stream, "retry_in", next.Round(time.Millisecond), "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(next):
		}
	}
	c.nats.set(scope, nil)
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

// handleNATSBatch stores the batch of one message of scope's stream. A
// message is dropped for good only when it can never be stored (broken, or
// its token belongs to another scope); a batch with a token or checks this
// controller's configuration does not know is held and offered again, since
// a newer configuration may know them.
func (c *Controller) handleNATSBatch(ctx context.Context, scope, token string, gz bool, data []byte) error {
	region, sum := c.regionOfToken(token)
	if region == "" {
		c.metrics.batches.WithLabelValues("held").Inc()
		return fmt.Errorf("%s: a batch with a probe token the configuration does not hold: %w", transport.StreamName(scope), transport.ErrWait)
	}
	if scope != c.Config().NATS.Deployment && transport.TokenScope(sum) != scope {
		c.metrics.batches.WithLabelValues("403").Inc()
		return fmt.Errorf("%s: a batch with a token of another stream: %w", transport.StreamName(scope), transport.ErrRejected)
	}
	var batch model.ResultBatch
	if be := c.decodeStream(ctx, bytes.NewReader(data), gz, gz || len(data) > largeBody, &batch, maxBatchBytes); be != nil {
		c.metrics.batches.WithLabelValues(fmt.Sprint(be.code)).Inc()
		if be.code >= http.StatusInternalServerError || ctx.Err() != nil {
			// Not the batch's fault (a shutdown, no decoder free): it is
			// offered again, never dropped.
			return fmt.Errorf("batch from %s: %s", region, be.msg)
		}
		return fmt.Errorf("batch from %s: %s: %w", region, be.msg, transport.ErrRejected)
	}
	_, held, ierr := c.ingest(ctx, region, &batch, true)
	if ierr != nil {
		c.metrics.batches.WithLabelValues(fmt.Sprint(ierr.code)).Inc()
		if ierr.code == 500 {
			return fmt.Errorf("batch from %s: %s", region, ierr.msg)
		}
		return fmt.Errorf("batch from %s: %s: %w", region, ierr.msg, transport.ErrRejected)
	}
	if held > 0 {
		// The rest is stored; when the message comes again it counts as
		// duplicates.
		c.metrics.batches.WithLabelValues("held").Inc()
		return fmt.Errorf("batch from %s: %d results of checks the configuration does not hold: %w", region, held, transport.ErrWait)
	}
	c.metrics.batches.WithLabelValues("200").Inc()
	return nil
}
