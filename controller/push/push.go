// Package push runs heartbeat checks: jobs that no probe can reach (a
// publish pipeline, a nightly rebuild, a queue consumer) report in with
// pings, and the controller records each ping, and each period that passed
// without one, as a result of the push region. From there a heartbeat
// check's verdict, minutes, SLOs, alerts and status page cell are any
// check's, with a quorum of one.
package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/model"
)

// Store is where results go.
type Store interface {
	InsertResults(ctx context.Context, rs []model.Result) ([]bool, error)
}

// Options configure the pings.
type Options struct {
	Store  Store
	Config func() *config.Config
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	Log *slog.Logger
	// Newest is when the newest result of check in the push region was
	// scheduled (zero when there is none).
	Newest func(check string) time.Time
	// Stored is told of the results stored.
	Stored func(rs []model.Result)
	// Counts is where pushed SLI counts go.
	Counts CountStore
	// Events is where the events of event rules go; Evented is told when
	// one changed an alert's condition.
	Events  EventStore
	Evented func()
	// Rate and Burst bound each check's pings (default one a second, in
	// bursts of ten).
	Rate  rate.Limit
	Burst int
}

// Actions a ping may name after its key.
const (
	ActionStart = "start"
	ActionFail  = "fail"
)

// Errors of a ping. ErrNotFound is one answer for an unknown check, a
// check of another kind and a wrong key alike, so that it tells nothing.
var (
	ErrNotFound = errors.New("not found")
	ErrTooMany  = errors.New("too many pings")
)

// MaxBody is how much of a ping's body is kept as its message.
const MaxBody = 4 << 10

// Push takes pings and records misses.
type Push struct {
	o Options

	mu        sync.Mutex
	started   map[string]time.Time // check → its job's last /start
	limiters  map[string]*rate.Limiter
	firstSeen map[string]time.Time // check → when the watch first saw it without results
}

// New returns the pings of heartbeat checks.
func New(o Options) *Push {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Stored == nil {
		o.Stored = func([]model.Result) {}
	}
	if o.Evented == nil {
		o.Evented = func() {}
	}
	if o.Rate == 0 {
		o.Rate, o.Burst = 1, 10
	}
	return &Push{o: o, started: map[string]time.Time{}, limiters: map[string]*rate.Limiter{}, firstSeen: map[string]time.Time{}}
}

// Ping takes a ping of check with key: plain (the job ran), ActionStart
// (it began) or ActionFail (it failed). body, at most MaxBody bytes, is
// kept as the result's message.
func (p *Push) Ping(ctx context.Context, check, key, action string, body []byte) error {
	cfg := p.o.Config()
	ch := cfg.Check(check)
	if ch == nil || ch.Heartbeat == nil || !ch.Heartbeat.KeyMatches(key) || (action != "" && action != ActionStart && action != ActionFail) {
		return ErrNotFound
	}
	now := p.o.Now()
	allowed := p.allow(check)
	p.mu.Lock()
	if allowed && action == ActionStart {
		p.started[check] = now
	}
	began, hasBegan := p.started[check]
	if allowed && action != ActionStart {
		delete(p.started, check)
	}
	p.mu.Unlock()
	if !allowed {
		return ErrTooMany
	}
	if action == ActionStart {
		return nil
	}
	r := model.Result{Check: check, Region: model.PushRegion, Probe: "push", Scheduled: now, Started: now, Outcome: model.OutcomeUp,
		ConfigVersion: cfg.Version, Message: message(body)}
	if hasBegan && now.Sub(began) <= ch.Period()+ch.Heartbeat.Grace.D() {
		r.DurationUS = min(now.Sub(began).Microseconds(), model.MaxDurationUS)
	}
	if action == ActionFail {
		r.Outcome, r.ErrorClass = model.OutcomeDown, model.ErrStatus
		if r.Message == "" {
			r.Message = "the job reported a failure (/fail)"
		}
	}
	return p.store(ctx, r)
}

// allow spends one of what key (a check's pings, an SLO's counts) may
// send at the rate.
func (p *Push) allow(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	lim := p.limiters[key]
	if lim == nil {
		lim = rate.NewLimiter(p.o.Rate, p.o.Burst)
		p.limiters[key] = lim
	}
	return lim.AllowN(p.o.Now(), 1)
}

// message bounds a ping's body to a result's message.
func message(body []byte) string {
	s := string(body)
	if len(s) > model.MaxMessageLen {
		s = s[:model.MaxMessageLen-3] + "..."
	}
	return model.RedactURLs(s)
}

func (p *Push) store(ctx context.Context, rs ...model.Result) error {
	stored, err := p.o.Store.InsertResults(ctx, rs)
	if err != nil {
		return fmt.Errorf("store pings: %w", err)
	}
	fresh := rs[:0]
	for i, ok := range stored {
		if ok {
			fresh = append(fresh, rs[i])
		}
	}
	if len(fresh) > 0 {
		p.o.Stored(fresh)
	}
	return nil
}

// maxMisses bounds the misses recorded for one check at one pass (after a
// long stop of the controller, the rest follow at the next passes).
const maxMisses = 1000

// Misses records, for every heartbeat check, each deadline that passed
// without a ping: a down result backdated to the deadline, so that the
// check is down from then on, minutes included.
func (p *Push) Misses(ctx context.Context) error {
	cfg := p.o.Config()
	now := p.o.Now()
	var rs []model.Result
	for _, ch := range cfg.AllChecks() {
		h := ch.Heartbeat
		if h == nil {
			continue
		}
		last := p.o.Newest(ch.ID)
		p.mu.Lock()
		if last.IsZero() {
			// Never heard of: due a period after it was first watched.
			if p.firstSeen[ch.ID].IsZero() {
				p.firstSeen[ch.ID] = now
			}
			last = p.firstSeen[ch.ID]
		}
		p.mu.Unlock()
		for n := 0; n < maxMisses; n++ {
			due := h.Deadline(last)
			if !now.After(due) {
				break
			}
			rs = append(rs, model.Result{Check: ch.ID, Region: model.PushRegion, Probe: "push", Scheduled: due, Started: due,
				Outcome: model.OutcomeDown, ErrorClass: model.ErrTimeout, ConfigVersion: cfg.Version,
				Message: fmt.Sprintf("no ping came by %s (due %s, grace %s)", due.UTC().Format(time.DateTime+" UTC"),
					due.Add(-h.Grace.D()).UTC().Format(time.DateTime+" UTC"), h.Grace.D())})
			last = due
		}
	}
	if len(rs) == 0 {
		return nil
	}
	p.o.Log.Info("heartbeat checks missed their pings", "results", len(rs))
	return p.store(ctx, rs...)
}
