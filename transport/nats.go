// Package transport carries result batches from probes to the controller
// over NATS JetStream, for deployments where HTTP straight to the
// controller is not enough: the stream holds results durably while the
// controller is away, and deduplicates resent batches.
//
// Several deployments may share one NATS server. Each keeps to its own
// scope: a stream, its subjects and the controller's durable consumer are
// all named after it, so one deployment never reads, acknowledges or
// terminates another's results. The scope is the deployment's configured
// name (nats.deployment) or, by default, a digest of the probe token, which
// no other deployment holds.
package transport

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nines-sre/nines/model"
)

// A batch carries no secret: it is signed with the probe token's SHA-256
// (HMAC-SHA256 over its subject, message id and bytes), and names the key
// by a digest of that digest. A subscriber to the stream (another tenant
// of a shared server) learns nothing that works on any API, and cannot
// forge or alter a batch; the controller knows the key from the token, or
// from its token_sha256 alone.
const (
	// KeyHeader names the signing key (KeyID).
	KeyHeader = "Nines-Key"
	// SignatureHeader carries the batch's signature (Sign).
	SignatureHeader = "Nines-Signature"
	// TokenHeader carried the token itself, from probes before signed
	// batches; a controller still takes it from them.
	TokenHeader = "Nines-Token"
)

// KeyID names the signing key of a token whose SHA-256 is tokenSHA256
// (model.NATSKeyID).
func KeyID(tokenSHA256 [32]byte) string { return model.NATSKeyID(tokenSHA256) }

// Sign is the signature of a batch published to subject with msgID.
func Sign(tokenSHA256 [32]byte, subject, msgID string, data []byte) string {
	mac := hmac.New(sha256.New, tokenSHA256[:])
	mac.Write([]byte(subject + "\x00" + msgID + "\x00"))
	mac.Write(data)
	return hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether signature is Sign's for this key and message.
func Verify(tokenSHA256 [32]byte, subject, msgID string, data []byte, signature string) bool {
	got, err := hex.DecodeString(signature)
	if err != nil {
		return false
	}
	want, _ := hex.DecodeString(Sign(tokenSHA256, subject, msgID, data))
	return hmac.Equal(got, want)
}

// subjectRoot prefixes every subject: results of region R in scope S are
// published to nines.batches.S.R.
const subjectRoot = "nines.batches"

// streamMaxAge bounds how long a batch waits in a stream for a controller
// that can take it.
const streamMaxAge = 7 * 24 * time.Hour

var scopePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// CheckScope says why s cannot name a deployment's stream, subjects and
// consumer, or nil when it can.
func CheckScope(s string) error {
	if !scopePattern.MatchString(s) {
		return fmt.Errorf("%q must be 1 to 32 letters, digits, '-' or '_'", s)
	}
	return nil
}

// TokenScope is the default scope of a probe token, from the token's
// SHA-256 (which is all a controller configured with token_sha256 knows).
// It is a digest of that digest, so that the subject never shows the
// configured hash.
func TokenScope(tokenSHA256 [32]byte) string {
	sum := sha256.Sum256(append([]byte("nines nats scope\x00"), tokenSHA256[:]...))
	return "t" + hex.EncodeToString(sum[:8])
}

// StreamName is the stream of scope.
func StreamName(scope string) string { return "NINES_" + scope }

// Subject is where a region's results in scope are published.
func Subject(scope, region string) string { return subjectRoot + "." + scope + "." + region }

// ConsumerName is the controllers' durable consumer of scope's stream.
func ConsumerName(scope string) string { return "nines-controller-" + scope }

// Connect opens a JetStream context.
func Connect(url, name string) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(url, nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second), nats.RetryOnFailedConnect(true))
	if err != nil {
		return nil, nil, fmt.Errorf("nats %s: %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return nc, js, nil
}

// EnsureStream makes sure scope's stream exists; probes and controllers
// both call it, so whichever starts first creates it and nothing published
// is lost.
func EnsureStream(ctx context.Context, js jetstream.JetStream, scope string) error {
	if err := CheckScope(scope); err != nil {
		return fmt.Errorf("scope: %w", err)
	}
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: StreamName(scope), Subjects: []string{subjectRoot + "." + scope + ".>"},
		Storage: jetstream.FileStorage, Retention: jetstream.WorkQueuePolicy, Duplicates: 10 * time.Minute, MaxAge: streamMaxAge})
	if err != nil {
		return fmt.Errorf("stream %s: %w", StreamName(scope), err)
	}
	return nil
}

// Publisher sends a probe's batches.
type Publisher struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	region string
	key    [32]byte // the token's SHA-256: the signing key, never sent

	own     string // the token's own scope
	mu      sync.Mutex
	scope   string // where batches go
	ensured string // the scope whose stream is known to exist
}

// NewPublisher connects a probe of region; its batches go to the token's
// own scope until SetScope names the deployment's.
func NewPublisher(url, region, token, probeID string) (*Publisher, error) {
	nc, js, err := Connect(url, "nines-probe "+probeID)
	if err != nil {
		return nil, err
	}
	key := sha256.Sum256([]byte(token))
	own := TokenScope(key)
	return &Publisher{nc: nc, js: js, region: region, key: key, own: own, scope: own}, nil
}

// SetScope directs later batches to the deployment's scope (as the
// controller's assignment names it); "" means the token's own scope.
func (p *Publisher) SetScope(scope string) {
	if scope == "" {
		scope = p.own
	}
	p.mu.Lock()
	p.scope = scope
	p.mu.Unlock()
}

// Scope is where batches go now.
func (p *Publisher) Scope() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.scope
}

// Publish stores one gzipped JSON batch in the stream; msgID makes a resend
// of the same batch a no-op. When it returns nil the batch is durable.
func (p *Publisher) Publish(ctx context.Context, msgID string, gzipped []byte) error {
	p.mu.Lock()
	scope, ensured := p.scope, p.ensured
	p.mu.Unlock()
	if scope != ensured {
		if err := EnsureStream(ctx, p.js, scope); err != nil {
			return err
		}
		p.mu.Lock()
		p.ensured = scope
		p.mu.Unlock()
	}
	subject := Subject(scope, p.region)
	m := nats.NewMsg(subject)
	m.Header.Set(KeyHeader, KeyID(p.key))
	m.Header.Set(SignatureHeader, Sign(p.key, subject, msgID, gzipped))
	m.Header.Set("Content-Encoding", "gzip")
	m.Data = gzipped
	if _, err := p.js.PublishMsg(ctx, m, jetstream.WithMsgID(msgID)); err != nil {
		return fmt.Errorf("publish to %s: %w", subject, err)
	}
	return nil
}

// Close disconnects.
func (p *Publisher) Close() { p.nc.Close() }

// Handler stores one message's batch. nil acknowledges the message;
// ErrRejected drops it for good (it can never be stored: broken, forged);
// ErrWait holds it for Options.Wait (it may be stored once this controller
// knows more, e.g. after a configuration reload); any other error offers it
// again soon.
type Handler func(ctx context.Context, m Message) error

// Message is a batch as the stream delivers it.
type Message struct {
	Subject, MsgID string
	// Key and Signature sign it (KeyID, Sign); Token is set instead by
	// probes from before signed batches.
	Key, Signature, Token string
	Gzipped               bool
	Data                  []byte
}

var (
	// ErrRejected marks a message that can never be stored.
	ErrRejected = errors.New("rejected")
	// ErrWait marks a message this controller cannot store yet.
	ErrWait = errors.New("held until the configuration knows it")
)

// ConsumeOptions tune Consume.
type ConsumeOptions struct {
	// Wait is how long a message the handler answered ErrWait is held
	// before it is offered again; default a minute.
	Wait time.Duration
	// OnErr hears every error, of the handler or of the fetch.
	OnErr func(error)
	// OnFetch hears how every fetch went: nil when the consumer reached
	// the stream, its error when it could not.
	OnFetch func(error)
}

// Consume runs scope's durable consumer until ctx is done: each message is
// acknowledged only after handle stored it.
func Consume(ctx context.Context, js jetstream.JetStream, scope string, handle Handler, o ConsumeOptions) error {
	if o.Wait <= 0 {
		o.Wait = time.Minute
	}
	if o.OnErr == nil {
		o.OnErr = func(error) {}
	}
	if o.OnFetch == nil {
		o.OnFetch = func(error) {}
	}
	if err := EnsureStream(ctx, js, scope); err != nil {
		return err
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, StreamName(scope), jetstream.ConsumerConfig{Durable: ConsumerName(scope), AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: 30 * time.Second, MaxAckPending: 1000, MaxDeliver: -1})
	if err != nil {
		return fmt.Errorf("consumer %s: %w", ConsumerName(scope), err)
	}
	for ctx.Err() == nil {
		batch, err := cons.Fetch(50, jetstream.FetchMaxWait(time.Second))
		if ctx.Err() == nil {
			o.OnFetch(err)
		}
		if err != nil {
			if ctx.Err() == nil {
				o.OnErr(fmt.Errorf("fetch from %s: %w", StreamName(scope), err))
				sleep(ctx, time.Second)
			}
			continue
		}
		for m := range batch.Messages() {
			h := m.Headers()
			err := handle(ctx, Message{Subject: m.Subject(), MsgID: h.Get(jetstream.MsgIDHeader), Key: h.Get(KeyHeader), Signature: h.Get(SignatureHeader),
				Token: h.Get(TokenHeader), Gzipped: h.Get("Content-Encoding") == "gzip", Data: m.Data()})
			switch {
			case err == nil:
				_ = m.Ack()
			case errors.Is(err, ErrRejected):
				o.OnErr(err)
				_ = m.Term()
			case errors.Is(err, ErrWait):
				o.OnErr(err)
				_ = m.NakWithDelay(o.Wait)
			default:
				o.OnErr(err)
				_ = m.NakWithDelay(2 * time.Second)
			}
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
