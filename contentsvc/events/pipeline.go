package events

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/nines-sre/nines/internal/loop"
)

// Pipeline runs the consumer: batches from the queue, processed into the
// store, told to Processed.
type Pipeline struct {
	Queue Queue
	Store *Store
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	Log *slog.Logger
	// Processed is told what each batch did (metrics, alerts on new
	// error groups).
	Processed func(Outcome)
}

// Run consumes until ctx is done, forgetting processed ids older than
// twice MaxSkew every hour.
func (p *Pipeline) Run(ctx context.Context) error {
	now := p.Now
	if now == nil {
		now = time.Now
	}
	log := p.Log
	if log == nil {
		log = slog.Default()
	}
	var pruning sync.WaitGroup
	defer pruning.Wait()
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	pruning.Go(func() {
		loop.Every(pctx, time.Hour, true, func(ctx context.Context) error {
			n, err := p.Store.Prune(ctx, now().Add(-2*MaxSkew))
			if n > 0 {
				log.Info("processed event ids forgotten", "ids", n)
			}
			return err
		}, func(err error) { log.Warn("prune processed event ids", "err", err) }, nil)
	})
	return p.Queue.Consume(ctx, func(ctx context.Context, evs []Event) error {
		out, err := p.Store.Process(ctx, evs, now())
		if err != nil {
			log.Error("process events; handed again", "events", len(evs), "err", err)
			return err
		}
		if p.Processed != nil {
			p.Processed(out)
		}
		return nil
	})
}
