package probe

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nines-sre/nines/model"
)

// reach tells the probe's own network trouble from its targets'. A failure
// is the probe's own (model.Result.ProbeIsolated) when the probe could
// reach nothing at the time: no other target answered while the check ran,
// and no controller answered either. A target that answered with a wrong
// status or body was reached, so only failures to connect, resolve,
// handshake or answer in time can be isolation.
type reach struct {
	now func() time.Time
	// ping asks a controller whether it answers, within a short timeout.
	ping func(ctx context.Context) error
	// timeout bounds a ping.
	timeout time.Duration

	// target is when any target last answered (Unix nanoseconds): every
	// result sets it, so it takes no lock.
	target atomic.Int64

	mu         sync.Mutex
	controller time.Time // last answer from a controller
	asked      time.Time // last ping, and its outcome
	askedOK    bool
	pinging    chan struct{} // closed when the ping in flight ends
}

// pingTimeout bounds a ping of the controller.
const pingTimeout = 3 * time.Second

func newReach(now func() time.Time, ping func(context.Context) error) *reach {
	return &reach{now: now, ping: ping, timeout: pingTimeout}
}

// controllerOK records an answer from a controller.
func (r *reach) controllerOK() {
	r.mu.Lock()
	r.controller = r.now()
	r.mu.Unlock()
}

// networkFailure reports whether a result failed without any answer from
// its target (a host that refused or reset the connection answered).
func networkFailure(res *model.Result) bool {
	if res.Outcome != model.OutcomeDown || res.HostAnswered {
		return false
	}
	switch res.ErrorClass {
	case model.ErrDNS, model.ErrConnect, model.ErrTLS, model.ErrTimeout:
		return true
	}
	return false
}

// observe takes a finished result: an answer from its target is recorded,
// and a failure seen while the probe reached nothing at all is marked as
// the probe's own.
func (r *reach) observe(ctx context.Context, res *model.Result) {
	seen := res.Started.Add(res.Latency()).UnixNano()
	if !networkFailure(res) {
		if res.ErrorClass != model.ErrInternal {
			for cur := r.target.Load(); seen > cur; cur = r.target.Load() {
				if r.target.CompareAndSwap(cur, seen) {
					break
				}
			}
		}
		return
	}
	// Only what was reached after the failure was seen tells: an answer
	// from just before it may predate the cut.
	if r.target.Load() > seen {
		return // another target answered since
	}
	if !r.controllerReachable(ctx, time.Unix(0, seen)) {
		res.ProbeIsolated = true
	}
}

// networkSeen is when a target last answered this probe (zero: never).
func (r *reach) networkSeen() time.Time {
	if ns := r.target.Load(); ns > 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// controllerReachable reports whether a controller answered since since,
// asking one when nothing that recent is known. Concurrent failures share
// one ping.
func (r *reach) controllerReachable(ctx context.Context, since time.Time) bool {
	for {
		r.mu.Lock()
		if r.controller.After(since) {
			r.mu.Unlock()
			return true
		}
		if r.asked.After(since) {
			ok := r.askedOK
			r.mu.Unlock()
			return ok
		}
		if wait := r.pinging; wait != nil {
			r.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return true // no verdict on the network: leave the result as it is
			}
		}
		done := make(chan struct{})
		r.pinging = done
		r.mu.Unlock()

		pctx, cancel := context.WithTimeout(ctx, r.timeout)
		err := r.ping(pctx)
		cancel()
		r.mu.Lock()
		r.asked, r.askedOK, r.pinging = r.now(), err == nil, nil
		if err == nil {
			r.controller = r.asked
		}
		r.mu.Unlock()
		close(done)
		return err == nil
	}
}
