package alerting

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
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

// Dispatcher delivers the outbox on lanes: each configured notifier is a
// lane of its own, and the notifiers of status page subscribers
// (subscriber:ID) share one (LaneOf). A lane delivers a few notifications
// at once, so a PagerDuty page never waits behind a ticket, a mail or a
// subscriber, and a destination that hangs holds up only its own lane,
// for at most Timeout per attempt. Within a lane the order per alert and
// notifier is kept: a notification is not due while an older one of the
// same alert and notifier is undelivered (the store holds it back), and
// one being delivered is not handed out again. Every attempt is recorded
// with exponential backoff and jitter between failures.
type Dispatcher struct {
	store     Store
	notifiers func() map[string]Notifier
	log       *slog.Logger
	now       func() time.Time
	sent      *prometheus.CounterVec
	busy      *prometheus.GaugeVec

	// MinBackoff and MaxBackoff bound the wait between attempts.
	MinBackoff, MaxBackoff time.Duration
	// Timeout bounds one delivery attempt.
	Timeout time.Duration
	// Workers is how many deliveries a notifier's lane makes at once, and
	// SharedWorkers how many the lane of many notifiers (every status page
	// subscriber) makes: deliveries, goroutines and sockets are bounded
	// by these, however many subscribers there are.
	Workers, SharedWorkers int
	// Fence, when set, is asked before every delivery; false stops the
	// pass (this controller no longer leads, so another may be sending).
	Fence func() bool

	passing  sync.Mutex // one pass at a time
	mu       sync.Mutex
	inFlight map[int64]bool
	// ended holds the notifications whose attempt was recorded since the
	// current pass began: its read of the outbox may predate the record.
	ended map[int64]bool
	lanes map[string]int // lane → deliveries in flight
	done  chan struct{}  // a delivery ended: room on its lane
}

// ErrFenced ends a delivery pass whose Fence said no.
var ErrFenced = errors.New("no longer allowed to deliver: another controller leads")

// LaneOf names the delivery lane of a notifier: the part of its name
// before a colon (subscriber:12 is on the lane subscriber), or the whole
// name (a configured notifier's id has no colon).
func LaneOf(notifier string) string {
	if i := strings.IndexByte(notifier, ':'); i >= 0 {
		return notifier[:i]
	}
	return notifier
}

// NewDispatcher returns a dispatcher; notifiers is asked on every pass, so
// that a configuration reload takes effect.
func NewDispatcher(store Store, notifiers func() map[string]Notifier, log *slog.Logger, now func() time.Time, reg prometheus.Registerer) *Dispatcher {
	sent := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "nines", Name: "notifications_total",
		Help: "Notification attempts, by lane (a configured notifier, or subscriber for every status page subscriber) and outcome: delivered, retry or failed."},
		[]string{"notifier", "outcome"})
	busy := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "nines", Name: "notifications_in_flight",
		Help: "Deliveries under way, by lane."}, []string{"notifier"})
	if reg != nil {
		reg.MustRegister(sent, busy)
	}
	return &Dispatcher{store: store, notifiers: notifiers, log: log, now: now, sent: sent, busy: busy,
		MinBackoff: time.Second, MaxBackoff: 5 * time.Minute, Timeout: 15 * time.Second, Workers: 4, SharedWorkers: 16,
		inFlight: map[int64]bool{}, ended: map[int64]bool{}, lanes: map[string]int{}, done: make(chan struct{}, 1)}
}

// capacity is how many deliveries lane makes at once.
func (d *Dispatcher) capacity(lane, notifier string) int {
	if lane != notifier {
		return max(d.SharedWorkers, 1)
	}
	return max(d.Workers, 1)
}

// pass hands every due notification that has room on its lane to a
// delivery of its own; wg counts them. It returns how many it started.
func (d *Dispatcher) pass(ctx context.Context, wg *sync.WaitGroup, errs chan<- error) (int, error) {
	d.passing.Lock()
	defer d.passing.Unlock()
	d.mu.Lock()
	clear(d.ended)
	d.mu.Unlock()
	perLane := max(d.Workers, d.SharedWorkers, 1)
	due, err := d.store.DueNotifications(ctx, d.now(), 2*perLane, 1000)
	if err != nil {
		return 0, err
	}
	ns := d.notifiers()
	started := 0
	for i := range due {
		n := due[i]
		lane := LaneOf(n.Notifier)
		d.mu.Lock()
		if d.inFlight[n.ID] || d.ended[n.ID] || d.lanes[lane] >= d.capacity(lane, n.Notifier) {
			d.mu.Unlock()
			continue
		}
		if d.Fence != nil && !d.Fence() {
			d.mu.Unlock()
			return started, ErrFenced
		}
		d.inFlight[n.ID] = true
		d.lanes[lane]++
		d.busy.WithLabelValues(lane).Inc()
		d.mu.Unlock()
		started++
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := d.deliver(ctx, ns, &n, lane)
			d.mu.Lock()
			delete(d.inFlight, n.ID)
			d.ended[n.ID] = true
			d.lanes[lane]--
			d.mu.Unlock()
			d.busy.WithLabelValues(lane).Dec()
			select {
			case d.done <- struct{}{}:
			default:
			}
			if err != nil && errs != nil {
				select {
				case errs <- err:
				default:
				}
			}
		}()
	}
	return started, nil
}

// deliver makes one attempt at n and records it.
func (d *Dispatcher) deliver(ctx context.Context, ns map[string]Notifier, n *Notification, lane string) error {
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
		return ctx.Err()
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
	d.sent.WithLabelValues(lane, at.Outcome).Inc()
	if err := d.store.RecordAttempt(ctx, n, at); err != nil {
		return fmt.Errorf("record attempt of notification %d: %w", n.ID, err)
	}
	return nil
}

// DeliverDue tries once every notification that is due and has room on
// its lane, and waits for those attempts; it returns how many were tried.
func (d *Dispatcher) DeliverDue(ctx context.Context) (int, error) {
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	n, err := d.pass(ctx, &wg, errs)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return n, err
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

// Run delivers until ctx is done: a pass when woken, when a delivery
// ends (room on its lane) and at least every second. Deliveries under way
// when ctx ends are given up (the outbox offers them again) and waited for.
func (d *Dispatcher) Run(ctx context.Context, wake <-chan struct{}) {
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	errs := make(chan error, 1)
	for {
		if _, err := d.pass(ctx, &wg, errs); errors.Is(err, ErrFenced) {
			d.log.Warn("outbox: delivery stopped", "err", err)
		} else if err != nil && ctx.Err() == nil {
			d.log.Error("outbox", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case err := <-errs:
			if ctx.Err() == nil {
				d.log.Error("outbox", "err", err)
			}
		case <-wake:
		case <-d.done:
		case <-t.C:
		}
	}
}
