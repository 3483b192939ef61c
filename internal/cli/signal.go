package cli

import (
	"context"
	"os"
	"os/signal"
)

// OnSignal turns the process's signals sig into requests on the channel
// it returns, until ctx is done; a request not yet taken absorbs the next.
func OnSignal(ctx context.Context, sig ...os.Signal) <-chan struct{} {
	in := make(chan os.Signal, 1)
	signal.Notify(in, sig...)
	out := make(chan struct{}, 1)
	go func() {
		defer signal.Stop(in)
		for {
			select {
			case <-ctx.Done():
				return
			case <-in:
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out
}
