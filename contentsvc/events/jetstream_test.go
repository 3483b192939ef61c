package events

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/nines-sre/nines/internal/natstest"
	"github.com/nines-sre/nines/internal/testwait"
)

// On JetStream, batches published survive the server's restart, are
// handed to the consumer until acknowledged, and a batch published twice
// is kept once.
func TestNATSQueueSurvivesARestart(t *testing.T) {
	store := t.TempDir()
	keep := func(o *server.Options) { o.StoreDir = store }
	ns := natstest.StartWith(t, "", keep)
	addr := ns.Addr().String()
	ctx := context.Background()
	q, err := OpenNATSQueue(ctx, "nats://"+addr)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	batch := func(i int) []Event {
		return []Event{render(fmt.Sprintf("ev-n%07d", 2*i), "fresh", "GB", t0), render(fmt.Sprintf("ev-n%07d", 2*i+1), "empty", "GB", t0)}
	}
	for i := range 5 {
		if err := q.Publish(ctx, batch(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Publish(ctx, batch(0)); err != nil { // a client's retry, within the duplicate window
		t.Fatal(err)
	}
	testwait.Eventually(t, 10*time.Second, "five batches in the stream", func() error {
		if n, err := q.Depth(ctx); err != nil || n != 5 {
			return fmt.Errorf("depth %d %v, want 5 batches", n, err)
		}
		return nil
	})
	// The server restarts with its store before anything is consumed.
	ns.Shutdown()
	ns.WaitForShutdown()
	natstest.StartWith(t, addr, keep)

	st, err := OpenStore(ctx, filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var mu sync.Mutex
	dups := 0
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- q.Consume(cctx, func(ctx context.Context, evs []Event) error {
			out, err := st.Process(ctx, evs, time.Now())
			mu.Lock()
			dups += out.Duplicates
			mu.Unlock()
			return err
		})
	}()
	testwait.Eventually(t, 60*time.Second, "every batch consumed after the restart", func() error {
		got, err := st.Processed(ctx)
		if err != nil || got[TypeRender] != 10 {
			return fmt.Errorf("%v %v", got, err)
		}
		if n, err := q.Depth(ctx); err != nil || n != 0 {
			return fmt.Errorf("depth %d %v", n, err)
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if dups != 0 {
		t.Fatalf("%d duplicates reached the consumer: the stream should have kept the retried batch once", dups)
	}
}
