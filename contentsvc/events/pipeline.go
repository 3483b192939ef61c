package events

import (
	"context"
	"log/slog"
	"time"
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
	go func() {
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			if n, err := p.Store.Prune(ctx, now().Add(-2*MaxSkew)); err != nil && ctx.Err() == nil {
				log.Warn("prune processed event ids", "err", err)
			} else if n > 0 {
				log.Info("processed event ids forgotten", "ids", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
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
