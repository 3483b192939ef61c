// Package confirm asks for confirmation on demand: when a healthy region
// reports a check down while the check is up, the controller asks the
// failing region and enough other healthy regions (the quorum, regions on
// other continents first) to run it at once, outside their schedule. The
// probe that owns the check in each region learns of it through a
// long-poll (GET /api/v1/probes/confirm), which answers as soon as a
// request for it is queued: within a network round trip, over the same
// authenticated probe API whether results then go by HTTP or NATS.
package confirm

import (
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/internal/loop"
	"github.com/nines-sre/nines/model"
	"golang.org/x/time/rate"
)

// Wait is how long a probe's long-poll is held before it is answered
// empty: under the probe's 30 s request timeout.
const Wait = 20 * time.Second

// maxQueued bounds the requests waiting for one probe: past it the least
// important are dropped (a global outage of many checks asks for no more
// than a probe can run in a few seconds).
const maxQueued = 50

// A probe is handed at most runRate on-demand runs a second after a first
// runBurst: with maxQueued, a global outage asks a probe for no more than
// it runs in a few seconds beside its schedule.
const (
	runRate  = 10
	runBurst = 20
)

// Rounds keeps the rounds asked and the requests waiting for each probe.
type Rounds struct {
	// Owner returns the probe of region that runs check now ("" when
	// none is live).
	Owner func(cfg *config.Config, check, region string) string

	// announce, when set (Share), tells the other controller replicas of
	// a round (a probe asked may poll one of them): they take it in with
	// Receive.
	announce func(payload []byte)
	notices  Notices
	log      *slog.Logger

	origin  string // this replica, in its announcements
	mu      sync.Mutex
	paces   map[string]*rate.Limiter // kind/check → rounds asked
	queue   map[string][]queued      // region/probe → requests, most important first
	waiting map[string]chan struct{}
	limits  map[string]*rate.Limiter // region/probe → runs handed
	open    map[string]*round        // check → its round still waited for
	closed  bool

	asked, recoveries, handed, dropped, complete, incomplete prometheus.Counter
	took                                                     prometheus.Histogram
	listening                                                prometheus.Gauge
}

// round is a confirmation round waiting for its on-demand results.
type round struct {
	asked   time.Time
	waiting map[string]bool // regions not yet answered
}

type queued struct {
	model.ConfirmRequest
	weight int
	at     time.Time // when queued (this process's clock)
}

// maxAge is how long an on-demand run waits for its probe: one not
// fetched by then (its probe polled another replica, or none) is stale.
const maxAge = 15 * time.Second

// announcement is a round as replicas tell each other of it.
type announcement struct {
	Origin  string               `json:"origin"`
	Request model.ConfirmRequest `json:"request"`
	Weight  int                  `json:"weight"`
	Period  time.Duration        `json:"period"` // the check's interval, for its pace
	Probes  []string             `json:"probes"` // region/probe
}

// New returns the rounds of a controller, counting into reg.
func New(owner func(cfg *config.Config, check, region string) string, reg prometheus.Registerer) *Rounds {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "nines", Subsystem: "confirm", Name: name, Help: help})
	}
	r := &Rounds{Owner: owner, origin: strconv.FormatInt(rand.Int64(), 36), paces: map[string]*rate.Limiter{}, queue: map[string][]queued{}, waiting: map[string]chan struct{}{},
		limits: map[string]*rate.Limiter{}, open: map[string]*round{},
		asked:      counter("rounds_total", "Confirmation rounds asked: a healthy region reported a check down while it was up."),
		recoveries: counter("recovery_rounds_total", "Recovery rounds asked: a healthy region reported a check up while it was down."),
		complete:   counter("rounds_answered_total", "Confirmation rounds whose every asked region sent its on-demand result."),
		incomplete: counter("rounds_unanswered_total", "Confirmation rounds some asked region never answered before the check's next round."),
		handed:     counter("runs_handed_total", "On-demand runs handed to probes."),
		dropped:    counter("runs_dropped_total", "On-demand runs dropped, less important than a full queue for their probe."),
		took: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "nines", Subsystem: "confirm", Name: "round_seconds",
			Help:    "From a round asked to the last of its on-demand results stored.",
			Buckets: []float64{.25, .5, 1, 2, 3, 5, 10, 20, 30, 60}}),
		listening: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "nines", Subsystem: "confirm", Name: "listening",
			Help: "1 while this replica listens for the rounds the other replicas of a shared store ask (a round told while it does not is lost to it), else 0."})}
	if reg != nil {
		reg.MustRegister(r.asked, r.recoveries, r.complete, r.incomplete, r.handed, r.dropped, r.took, r.listening)
	}
	return r
}

// Stored considers results about to become their regions' newest (status
// is each check's verdict before them, lastFailure when the newest of its
// regions' failing results was scheduled): a healthy region's failure of
// a check that is up asks a confirmation round, and its pass of a check
// that is down, scheduled after the failures that made it down, a
// recovery round. healthy is asked once, when needed.
func (r *Rounds) Stored(cfg *config.Config, rs []model.Result, status func(*config.Check) model.Status, lastFailure func(check string) time.Time,
	healthy func() map[string]bool, now time.Time) {
	var h map[string]bool
	for i := range rs {
		res := &rs[i]
		if res.OnDemand {
			r.answered(res.Check, res.Region, now)
			continue
		}
		if res.Outcome != model.OutcomeDown && res.Outcome != model.OutcomeUp {
			continue
		}
		ch := cfg.Check(res.Check)
		if ch == nil {
			continue
		}
		if h == nil {
			h = healthy()
		}
		st := status(ch)
		if res.Outcome == model.OutcomeDown {
			r.Consider(cfg, res, st == model.StatusUp, h, now)
		} else if st == model.StatusDown && res.Scheduled.After(lastFailure(res.Check)) {
			// A pass that arrives late, scheduled before the failures of the
			// outage, says nothing of a recovery.
			r.Recovered(cfg, res, true, h, now)
		}
	}
}

// Consider asks a round for a down result of a healthy region when the
// check is up, at most one per check per interval. healthy says which
// regions are heard from now. It returns the regions asked.
func (r *Rounds) Consider(cfg *config.Config, res *model.Result, up bool, healthy map[string]bool, now time.Time) []string {
	ch := cfg.Check(res.Check)
	if ch == nil || ch.Heartbeat != nil || res.Outcome != model.OutcomeDown || res.ProbeIsolated || res.OnDemand || !up || !healthy[res.Region] {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.pace(ch, false, now) {
		return nil
	}
	// The failing region again, then the quorum of the others: other
	// continents first, in configuration order.
	others := othersHealthy(cfg, ch, res.Region, healthy)
	home := cfg.ContinentOf(res.Region)
	slices.SortStableFunc(others, func(a, b string) int {
		fa, fb := cfg.ContinentOf(a) == home, cfg.ContinentOf(b) == home
		switch {
		case fa == fb:
			return 0
		case fb:
			return -1
		}
		return 1
	})
	asked := append([]string{res.Region}, others[:min(len(others), cfg.CheckQuorum(ch))]...)
	r.asked.Inc()
	return r.ask(cfg, ch, asked, false, now)
}

// Recovered asks a recovery round for a healthy region's pass of a check
// that is down: every other healthy region runs it at once, so that the
// check is up (and its page resolves, its escalation stops) seconds after
// the target is back rather than an interval later. At most one per check
// per interval; it returns the regions asked.
func (r *Rounds) Recovered(cfg *config.Config, res *model.Result, down bool, healthy map[string]bool, now time.Time) []string {
	ch := cfg.Check(res.Check)
	if ch == nil || ch.Heartbeat != nil || res.Outcome != model.OutcomeUp || res.OnDemand || !down || !healthy[res.Region] {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.pace(ch, true, now) {
		return nil
	}
	r.recoveries.Inc()
	return r.ask(cfg, ch, othersHealthy(cfg, ch, res.Region, healthy), true, now)
}

// roundBurst is how many rounds of a kind a check may ask in a row; then
// one an interval. Two outages (or an outage and its recovery) close
// together are each confirmed at once; a flapping target costs a round of
// each kind an interval.
const roundBurst = 2

// pace reports whether ch may ask a round of its kind (recovery or not)
// at now, and counts it if so. r.mu is held.
func (r *Rounds) pace(ch *config.Check, recovery bool, now time.Time) bool {
	return r.limiter(ch.ID, recovery, ch.Period()).AllowN(now, 1)
}

// limiter is the pace of check's rounds of a kind. r.mu is held.
func (r *Rounds) limiter(check string, recovery bool, period time.Duration) *rate.Limiter {
	key := "fail/" + check
	if recovery {
		key = "recover/" + check
	}
	lim := r.paces[key]
	if lim == nil {
		lim = rate.NewLimiter(rate.Every(max(period, time.Second)), roundBurst)
		r.paces[key] = lim
	}
	return lim
}

// othersHealthy are the regions of ch other than region that are heard
// from, in configuration order.
func othersHealthy(cfg *config.Config, ch *config.Check, region string, healthy map[string]bool) []string {
	var out []string
	for _, r := range cfg.CheckRegions(ch) {
		if r != region && healthy[r] {
			out = append(out, r)
		}
	}
	return out
}

// ask queues a round's runs of ch for the probes of regions, and tells
// the other replicas. r.mu is held.
func (r *Rounds) ask(cfg *config.Config, ch *config.Check, regions []string, recovery bool, now time.Time) []string {
	asked := regions
	if r.open[ch.ID] != nil {
		r.incomplete.Inc()
	}
	rd := &round{asked: now, waiting: map[string]bool{}}
	r.open[ch.ID] = rd
	// Round ids are random (below 2^53, exact in JSON numbers) so that
	// replicas' rounds never share one.
	ann := announcement{Origin: r.origin, Request: model.ConfirmRequest{Round: rand.Int64N(1 << 53), Check: ch.ID, Asked: now.UTC(), Recovery: recovery},
		Weight: importance(cfg, ch.ID), Period: ch.Period()}
	var handed []string
	for _, region := range asked {
		owner := r.Owner(cfg, ch.ID, region)
		if owner == "" {
			continue
		}
		probe := region + "/" + owner
		r.enqueue(probe, ann.Request, ann.Weight)
		rd.waiting[region] = true
		ann.Probes = append(ann.Probes, probe)
		handed = append(handed, region)
	}
	if len(handed) == 0 {
		delete(r.open, ch.ID)
	} else if r.announce != nil {
		if b, err := json.Marshal(ann); err == nil {
			go r.announce(b) // not under the lock, nor on ingest's path
		}
	}
	return handed
}

// enqueue queues req for probe (region/probe), most important first, and
// wakes the probe's long-poll. r.mu is held.
func (r *Rounds) enqueue(probe string, req model.ConfirmRequest, weight int) {
	q := append(r.queue[probe], queued{req, weight, time.Now()})
	slices.SortStableFunc(q, func(a, b queued) int { return b.weight - a.weight })
	if len(q) > maxQueued {
		r.dropped.Add(float64(len(q) - maxQueued))
		q = q[:maxQueued]
	}
	r.queue[probe] = q
	if w := r.waiting[probe]; w != nil {
		close(w)
		delete(r.waiting, probe)
	}
}

// Receive takes in another replica's round (its Announce payload): its
// probes may poll this replica, and it counts as the check's round for
// the interval here too. Its own rounds and what does not decode are
// passed over.
func (r *Rounds) Receive(payload []byte) {
	var ann announcement
	if err := json.Unmarshal(payload, &ann); err != nil || ann.Origin == r.origin || ann.Request.Check == "" || len(ann.Probes) > 64 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.limiter(ann.Request.Check, ann.Request.Recovery, ann.Period).AllowN(ann.Request.Asked, 1)
	for _, probe := range ann.Probes {
		r.enqueue(probe, ann.Request, ann.Weight)
	}
}

// Answered takes in results another replica ingested (replica sync): the
// on-demand ones answer this replica's rounds, timed as it learns of them.
func (r *Rounds) Answered(rs []model.Result, now time.Time) {
	for i := range rs {
		if rs[i].OnDemand {
			r.answered(rs[i].Check, rs[i].Region, now)
		}
	}
}

// answered notes an on-demand result of check from region: the round is
// complete when every region asked has answered.
func (r *Rounds) answered(check, region string, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rd := r.open[check]
	if rd == nil || !rd.waiting[region] {
		return
	}
	delete(rd.waiting, region)
	if len(rd.waiting) == 0 {
		delete(r.open, check)
		r.complete.Inc()
		r.took.Observe(now.Sub(rd.asked).Seconds())
	}
}

// importance ranks checks for a probe with more to run than it can: those
// an SLO counts first, then those a paging rule covers.
func importance(cfg *config.Config, check string) int {
	w := 0
	for i := range cfg.SLOs {
		if slices.Contains(cfg.SLOs[i].Checks, check) {
			w += 2
			break
		}
	}
	for i := range cfg.Alerting.Rules {
		rule := &cfg.Alerting.Rules[i]
		if rule.Kind != config.RuleCheckDown {
			continue
		}
		for _, c := range cfg.RuleChecks(rule) {
			if c.ID == check {
				return w + 1
			}
		}
	}
	return w
}

// Take waits up to wait (or until ctx is done) for requests for probe of
// region and returns at most max of them, most important first.
func (r *Rounds) Take(ctx context.Context, region, probe string, max int, wait time.Duration) []model.ConfirmRequest {
	t := time.NewTimer(wait)
	defer t.Stop()
	probe = region + "/" + probe
	for {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return nil
		}
		var limited <-chan time.Time
		q := slices.DeleteFunc(r.queue[probe], func(x queued) bool { return time.Since(x.at) > maxAge })
		r.queue[probe] = q
		if len(q) > 0 {
			lim := r.limits[probe]
			if lim == nil {
				lim = rate.NewLimiter(runRate, runBurst)
				r.limits[probe] = lim
			}
			n := 0
			for n < min(len(q), max) && lim.Allow() {
				n++
			}
			if n > 0 {
				out := make([]model.ConfirmRequest, n)
				for i := range n {
					out[i] = q[i].ConfirmRequest
				}
				r.queue[probe] = q[n:]
				r.mu.Unlock()
				r.handed.Add(float64(n))
				return out
			}
			limited = time.After(time.Second / runRate)
		}
		w := r.waiting[probe]
		if w == nil {
			w = make(chan struct{})
			r.waiting[probe] = w
		}
		r.mu.Unlock()
		select {
		case <-limited:
		case <-w:
		case <-t.C:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// Close answers every waiting probe empty, and those that ask later at
// once: the controller is shutting down and its server waits for them.
func (r *Rounds) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for probe, w := range r.waiting {
		close(w)
		delete(r.waiting, probe)
	}
}

// Notices carry messages between the controller replicas that share a
// store (store/postgres: NOTIFY and LISTEN).
type Notices interface {
	Notify(ctx context.Context, topic string, payload []byte) error
	Listen(ctx context.Context, topic string, ready func(), fn func(payload []byte)) error
}

// topic is the notices' topic for confirmation rounds.
const topic = "confirm"

// Share tells the other replicas over n of every round asked here; Listen
// takes theirs in.
func (r *Rounds) Share(n Notices, log *slog.Logger) {
	r.notices, r.log = n, log
	r.announce = func(payload []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := n.Notify(ctx, topic, payload); err != nil {
			log.Warn("telling the other replicas of a confirmation round", "err", err)
		}
	}
}

// Listen takes in the other replicas' rounds until ctx is done, listening
// again a second after a failure; without Share, it returns at once.
func (r *Rounds) Listen(ctx context.Context) {
	if r.notices == nil {
		return
	}
	loop.Every(ctx, time.Second, true, func(ctx context.Context) error {
		defer r.listening.Set(0)
		return r.notices.Listen(ctx, topic, func() { r.listening.Set(1) }, r.Receive)
	}, func(err error) { r.log.Warn("confirmation rounds of other replicas; listening again", "err", err) }, nil)
}
