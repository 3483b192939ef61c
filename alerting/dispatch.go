package alerting

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// Notifier delivers one message. An error wrapping a *RetryError is worth
// another try; any other error is final (a malformed event, a bad key).
type Notifier interface {
	Notify(ctx context.Context, m Message) error
}

// RetryError asks for another attempt, no sooner than After (from a
// Retry-After header; zero leaves it to the backoff).
type RetryError struct {
	After time.Duration
	Err   error
}

func (e *RetryError) Error() string { return e.Err.Error() }
func (e *RetryError) Unwrap() error { return e.Err }

// Dispatcher delivers the outbox: oldest first, in order per alert and
// notifier, with exponential backoff and jitter between attempts, every
// attempt recorded.
type Dispatcher struct {
	store     Store
	notifiers func() map[string]Notifier
	log       *slog.Logger
	now       func() time.Time
	sent      *prometheus.CounterVec

	// MinBackoff and MaxBackoff bound the wait between attempts.
	MinBackoff, MaxBackoff time.Duration
	// Timeout bounds one delivery attempt.
	Timeout time.Duration
	// Fence, when set, is asked before every delivery; false stops the
	// pass (this controller no longer leads, so another may be sending).
	Fence func() bool
}

// ErrFenced ends a delivery pass whose Fence said no.
var ErrFenced = errors.New("no longer allowed to deliver: another controller leads")

// NewDispatcher returns a dispatcher; notifiers is asked on every pass, so
// that a configuration reload takes effect.
func NewDispatcher(store Store, notifiers func() map[string]Notifier, log *slog.Logger, now func() time.Time, reg prometheus.Registerer) *Dispatcher {
	sent := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "nines", Name: "notifications_total",
		Help: "Notification attempts, by notifier and outcome: delivered, retry or failed."}, []string{"notifier", "outcome"})
	if reg != nil {
		reg.MustRegister(sent)
	}
	return &Dispatcher{store: store, notifiers: notifiers, log: log, now: now, sent: sent,
		MinBackoff: time.Second, MaxBackoff: 5 * time.Minute, Timeout: 15 * time.Second}
}

// DeliverDue tries every notification that is due; it returns how many
// were tried.
func (d *Dispatcher) DeliverDue(ctx context.Context) (int, error) {
	due, err := d.store.DueNotifications(ctx, d.now(), 100)
	if err != nil {
		return 0, err
	}
	ns := d.notifiers()
	for i := range due {
		if d.Fence != nil && !d.Fence() {
			return i, ErrFenced
		}
		n := &due[i]
		notifier, ok := ns[n.Notifier]
		var err error
		if !ok {
			err = fmt.Errorf("notifier %q is no longer configured", n.Notifier)
		} else {
			actx, cancel := context.WithTimeout(ctx, d.Timeout)
			err = notifier.Notify(actx, n.Message)
			cancel()
		}
		if ctx.Err() != nil {
			return i, ctx.Err()
		}
		now := d.now()
		at := Attempt{At: now, Outcome: "delivered"}
		n.Attempts++
		var retry *RetryError
		switch {
		case err == nil:
			n.Delivered = &now
		case errors.As(err, &retry):
			at.Outcome, at.Error = "retry", err.Error()
			// The notifier's own Retry-After wins; without one, backoff.
			wait := d.backoff(n.Attempts)
			if retry.After > 0 {
				wait = max(retry.After, d.MinBackoff)
			}
			n.NextAt, n.LastError = now.Add(wait), err.Error()
			d.log.Warn("notification not delivered; will retry", "notifier", n.Notifier, "alert", n.Message.AlertKey,
				"action", n.Message.Action, "attempt", n.Attempts, "retry_in", wait, "err", err)
		default:
			at.Outcome, at.Error = "failed", err.Error()
			n.Failed, n.LastError = &now, err.Error()
			d.log.Error("notification failed for good", "notifier", n.Notifier, "alert", n.Message.AlertKey, "action", n.Message.Action, "err", err)
		}
		d.sent.WithLabelValues(n.Notifier, at.Outcome).Inc()
		if err := d.store.RecordAttempt(ctx, n, at); err != nil {
			return i, err
		}
	}
	return len(due), nil
}

// backoff is the wait after a notification's attempts-th failed attempt:
// from MinBackoff, doubling up to MaxBackoff, each wait spread by ±20 %
// so that notifications that failed together do not retry together. The
// attempt count is what the outbox keeps, so the schedule survives a
// restart or a new leader.
func (d *Dispatcher) backoff(attempts int) time.Duration {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.Multiplier, b.RandomizationFactor = d.MinBackoff, d.MaxBackoff, 2, 0.2
	b.Reset()
	wait := b.NextBackOff()
	for i := 1; i < min(attempts, 64); i++ { // the cap comes long before 64
		wait = b.NextBackOff()
	}
	return wait
}

// Run delivers until ctx is done, when woken and at least every second.
func (d *Dispatcher) Run(ctx context.Context, wake <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if _, err := d.DeliverDue(ctx); errors.Is(err, ErrFenced) {
			d.log.Warn("outbox: delivery stopped", "err", err)
		} else if err != nil && ctx.Err() == nil {
			d.log.Error("outbox", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-t.C:
		}
	}
}
