// Package transport carries result batches from probes to the controller
// over NATS JetStream, for deployments where HTTP straight to the
// controller is not enough: the stream holds results durably while the
// controller is away, and deduplicates resent batches.
package transport

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Stream and consumer names, and the subject prefix: results of region R
// are published to nines.results.R.
const (
	StreamName   = "NINES_RESULTS"
	ConsumerName = "nines-controller"
	SubjectRoot  = "nines.results"
	// TokenHeader carries the probe's token, which binds it to its region.
	TokenHeader = "Nines-Token"
)

// Subject is where a region's results are published.
func Subject(region string) string { return SubjectRoot + "." + region }

// Connect opens a JetStream context and makes sure the stream exists.
func Connect(ctx context.Context, url, name string) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(url, nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second), nats.RetryOnFailedConnect(true))
	if err != nil {
		return nil, nil, fmt.Errorf("nats %s: %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: StreamName, Subjects: []string{SubjectRoot + ".>"},
		Storage: jetstream.FileStorage, Retention: jetstream.WorkQueuePolicy, Duplicates: 10 * time.Minute, MaxAge: 7 * 24 * time.Hour})
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("stream %s: %w", StreamName, err)
	}
	return nc, js, nil
}

// Publisher sends a probe's batches.
type Publisher struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	region string
	token  string
}

// NewPublisher connects a probe of region.
func NewPublisher(ctx context.Context, url, region, token, probeID string) (*Publisher, error) {
	nc, js, err := Connect(ctx, url, "nines-probe "+probeID)
	if err != nil {
		return nil, err
	}
	return &Publisher{nc: nc, js: js, region: region, token: token}, nil
}

// Publish stores one gzipped JSON batch in the stream; msgID makes a resend
// of the same batch a no-op. When it returns nil the batch is durable.
func (p *Publisher) Publish(ctx context.Context, msgID string, gzipped []byte) error {
	m := nats.NewMsg(Subject(p.region))
	m.Header.Set(TokenHeader, p.token)
	m.Header.Set("Content-Encoding", "gzip")
	m.Data = gzipped
	_, err := p.js.PublishMsg(ctx, m, jetstream.WithMsgID(msgID))
	if err != nil {
		return fmt.Errorf("publish to %s: %w", Subject(p.region), err)
	}
	return nil
}

// Close disconnects.
func (p *Publisher) Close() { p.nc.Close() }

// Handler stores one message's batch; an error means "try again later"
// unless it wraps ErrRejected, which drops the message for good.
type Handler func(ctx context.Context, token string, gzipped bool, data []byte) error

// ErrRejected marks a message that can never be stored.
var ErrRejected = errors.New("rejected")

// Consume runs the controller's durable consumer until ctx is done: each
// message is acknowledged only after handle stored it.
func Consume(ctx context.Context, js jetstream.JetStream, handle Handler, onErr func(error)) error {
	cons, err := js.CreateOrUpdateConsumer(ctx, StreamName, jetstream.ConsumerConfig{Durable: ConsumerName, AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: 30 * time.Second, MaxAckPending: 1000, MaxDeliver: -1})
	if err != nil {
		return fmt.Errorf("consumer %s: %w", ConsumerName, err)
	}
	for ctx.Err() == nil {
		batch, err := cons.Fetch(50, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			if ctx.Err() == nil {
				onErr(fmt.Errorf("fetch: %w", err))
				time.Sleep(time.Second)
			}
			continue
		}
		for m := range batch.Messages() {
			err := handle(ctx, m.Headers().Get(TokenHeader), m.Headers().Get("Content-Encoding") == "gzip", m.Data())
			switch {
			case err == nil:
				_ = m.Ack()
			case errors.Is(err, ErrRejected):
				onErr(err)
				_ = m.Term()
			default:
				onErr(err)
				_ = m.NakWithDelay(2 * time.Second)
			}
		}
	}
	return nil
}
