package cli

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// A signal becomes a request; two before one is taken become one.
func TestOnSignal(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reqs := OnSignal(ctx, syscall.SIGUSR1)
	for range 2 {
		if err := syscall.Kill(syscall.Getpid(), syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-reqs:
	case <-time.After(5 * time.Second):
		t.Fatal("no request for the signal")
	}
	select {
	case <-reqs:
		select {
		case <-reqs:
			t.Fatal("three requests for two signals")
		case <-time.After(100 * time.Millisecond):
		}
	case <-time.After(200 * time.Millisecond):
	}
}
