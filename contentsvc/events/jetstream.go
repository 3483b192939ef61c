package events

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nines-sre/nines/transport"
)

// The JetStream queue's stream, subject and durable consumer.
const (
	StreamName   = "CONTENTSVC_EVENTS"
	subject      = "contentsvc.events"
	consumerName = "contentsvc-consumer"
	streamMaxAge = 7 * 24 * time.Hour
)

// NATSQueue is the queue on NATS JetStream, for deployments that run it
// (as nines' own transport may): a work-queue stream on disk, each batch
// acknowledged by the consumer once handled, handed again (to any
// contentsvc replica) when it is not.
type NATSQueue struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	stream   jetstream.Stream
	consumer jetstream.Consumer
}

// OpenNATSQueue connects to url and makes sure the stream and its durable
// consumer exist.
func OpenNATSQueue(ctx context.Context, url string) (*NATSQueue, error) {
	nc, js, err := transport.Connect(url, "contentsvc")
	if err != nil {
		return nil, err
	}
	st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: StreamName, Subjects: []string{subject},
		Storage: jetstream.FileStorage, Retention: jetstream.WorkQueuePolicy, Duplicates: 10 * time.Minute, MaxAge: streamMaxAge})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("stream %s: %w", StreamName, err)
	}
	c, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: consumerName, AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: 30 * time.Second, MaxAckPending: 64})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("consumer %s: %w", consumerName, err)
	}
	return &NATSQueue{nc: nc, js: js, stream: st, consumer: c}, nil
}

// Publish stores evs in the stream and returns once the server has them
// on disk; a batch sent again within ten minutes (the same events) is
// stored once.
func (q *NATSQueue) Publish(ctx context.Context, evs []Event) error {
	body, err := json.Marshal(evs)
	if err != nil {
		return fmt.Errorf("queue events: %w", err)
	}
	h := sha256.New()
	for _, e := range evs {
		h.Write([]byte(e.ID + "\n"))
	}
	if _, err := q.js.Publish(ctx, subject, body, jetstream.WithMsgID(hex.EncodeToString(h.Sum(nil))[:32])); err != nil {
		return fmt.Errorf("queue events: %w", err)
	}
	return nil
}

// Consume hands batches to handle, acknowledging each once handled; a
// failed batch is handed again after a pause.
func (q *NATSQueue) Consume(ctx context.Context, handle func(context.Context, []Event) error) error {
	for ctx.Err() == nil {
		batch, err := q.consumer.Fetch(16, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// The server away (a restart): try again shortly.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
			continue
		}
		for msg := range batch.Messages() {
			var evs []Event
			if err := json.Unmarshal(msg.Data(), &evs); err != nil {
				_ = msg.Term() // not a batch of events: never handed again
				continue
			}
			if err := handle(ctx, evs); err != nil {
				_ = msg.NakWithDelay(5 * time.Second)
				continue
			}
			// An acknowledgement lost (the server restarting) hands the
			// batch again: the consumer drops what it has processed.
			_ = msg.DoubleAck(ctx)
		}
	}
	return nil
}

// Depth is how many batches wait (not events: the stream counts
// messages): those not yet delivered and those not yet acknowledged.
func (q *NATSQueue) Depth(ctx context.Context) (int, error) {
	info, err := q.consumer.Info(ctx)
	if err != nil {
		return 0, err
	}
	return int(info.NumPending) + info.NumAckPending, nil
}

// Close drains the connection.
func (q *NATSQueue) Close() error {
	q.nc.Close()
	return nil
}
