package loop

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// Every runs at once when asked, then at each tick, reports failures and
// how long runs took, and stops with its context.
func TestEvery(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var runs, failures, timed atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		Every(ctx, 10*time.Millisecond, true, func(context.Context) error {
			if runs.Add(1) == 3 {
				cancel()
			}
			return errors.New("no")
		}, func(error) { failures.Add(1) }, func(time.Duration) { timed.Add(1) })
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Every did not stop with its context")
	}
	// The third run's failure came as the context ended: not reported.
	if runs.Load() != 3 || failures.Load() != 2 || timed.Load() != 3 {
		t.Fatalf("runs %d failures %d timed %d", runs.Load(), failures.Load(), timed.Load())
	}
}
