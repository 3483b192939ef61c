// Package loop runs periodic work.
package loop

import (
	"context"
	"time"
)

// Every runs fn every interval (first at once when now is set) until ctx
// is done. A failure goes to failed and is tried again at the next tick;
// took, when set, receives how long each run took.
func Every(ctx context.Context, interval time.Duration, now bool, fn func(context.Context) error, failed func(error), took func(time.Duration)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if now {
			began := time.Now()
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				failed(err)
			}
			if took != nil {
				took(time.Since(began))
			}
		}
		now = true
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
