// Package alerts feeds the alerting engine from the controller's live
// verdicts and SLO burn rates, and delivers what it decides.
package alerts

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nines-sre/nines/alerting"
	"github.com/nines-sre/nines/alerting/notify"
	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/ledger"
	"github.com/nines-sre/nines/controller/live"
	"github.com/nines-sre/nines/controller/sla"
	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/internal/egress"
	"github.com/nines-sre/nines/model"
)

// Options configure the alerting of a controller.
type Options struct {
	Store  Store
	Config func() *config.Config
	// Now is the clock; nil means time.Now.
	Now  func() time.Time
	Log  *slog.Logger
	Live live.View
	// SLOReport reports an SLO at a time, for its burn rates.
	SLOReport func(ctx context.Context, slo *config.SLO, now time.Time) (ledger.SLOReport, error)
	// NotifyClient carries notifications (default: 30 s timeout).
	NotifyClient *http.Client
	Registry     prometheus.Registerer
}

// Store is what alerting keeps: alerts, the notification outbox and its
// history.
type Store interface {
	alerting.Store
	AlertNotifications(ctx context.Context, key string) ([]store.NotificationHistory, error)
	Subscribers(ctx context.Context) ([]store.Subscriber, error)
	AlertEvents(ctx context.Context, since time.Time, limit int) ([]alerting.Event, error)
}

// Alerts is a controller's alerting machinery.
type Alerts struct {
	o          Options
	engine     *alerting.Engine
	dispatcher *alerting.Dispatcher
	wake       chan struct{}
	poke       chan struct{} // a verdict may have changed: evaluate now
	started    time.Time

	mu       sync.Mutex
	lastDown map[string]time.Time // check → the last time its verdict was down
	// check → the last time its verdict was up, and was not (down or
	// degraded)
	lastUp, lastNotUp map[string]time.Time
	slos              map[string]alerting.SLOState
	slosAt            time.Time
	notifiers         map[string]alerting.Notifier
	notifVer          string
	withSubs          map[string]alerting.Notifier // notifiers and the subscribers'
	subsAt            time.Time

	// The last snapshot's check states, kept for the next: a check none
	// of whose regions had a newer result since keeps its state, but at a
	// full pass (fullSnapshotEvery, or what every verdict depends on
	// changed: the configuration, the regions heard from).
	prev     map[string]alerting.CheckState
	prevSeq  uint64
	prevCfg  *config.Config
	prevKey  string
	prevFull time.Time
	judged   int // verdicts judged by the last snapshot
}

// fullSnapshotEvery is how often every check's verdict is judged again
// for the alert rules even when none of its regions sent a newer result:
// what changes with time alone (a result growing stale, a maintenance
// window opening) reaches the rules within it.
const fullSnapshotEvery = 5 * time.Second

// New returns the alerting of a controller: the rule engine, and the
// dispatcher of its notifications, whose notifiers follow the
// configuration.
func New(o Options) *Alerts {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	a := &Alerts{o: o, wake: make(chan struct{}, 1), poke: make(chan struct{}, 1), started: o.Now(), lastDown: map[string]time.Time{},
		lastUp: map[string]time.Time{}, lastNotUp: map[string]time.Time{}}
	a.engine = alerting.NewEngine(o.Store, o.Log, "nines-controller")
	a.engine.Wake = a.wake
	a.engine.Delivered = a.levelDelivered
	a.dispatcher = alerting.NewDispatcher(o.Store, a.allNotifiers, o.Log, o.Now, o.Registry)
	return a
}

// subscribersEvery is how often the subscribers' notifiers are read
// again.
const subscribersEvery = 5 * time.Second

// allNotifiers are the configured notifiers, and a notifier per status
// page subscriber (subscriber:{id}), read again every few seconds.
func (a *Alerts) allNotifiers() map[string]alerting.Notifier {
	cfg := a.o.Config()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.notifiers == nil || a.notifVer != cfg.Version {
		a.notifiers, a.notifVer = notify.Build(cfg.Alerting.Notifiers, a.o.NotifyClient), cfg.Version
		a.withSubs, a.subsAt = nil, time.Time{}
	}
	sub := cfg.Dashboard.Subscriptions
	if sub == nil {
		return a.notifiers
	}
	if a.withSubs != nil && time.Since(a.subsAt) < subscribersEvery {
		return a.withSubs
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	subs, err := a.o.Store.Subscribers(ctx)
	if err != nil {
		a.o.Log.Warn("subscribers not read; their notifications wait", "err", err)
		return a.notifiers
	}
	out := maps.Clone(a.notifiers)
	base := strings.TrimRight(cfg.Alerting.DashboardURL, "/")
	// A subscriber's webhook is a stranger's URL: public addresses only
	// (unless private_webhooks), checked on every connection, no
	// redirects.
	client := egress.Client(egress.Options{Timeout: 30 * time.Second, Private: sub.PrivateWebhooks})
	for _, s := range subs {
		name := "subscriber:" + strconv.FormatInt(s.ID, 10)
		switch s.Kind {
		case "email":
			out[name] = &notify.StatusMail{Relay: notify.Relay{Addr: sub.SMTP, Username: sub.Username, Password: sub.Password}, From: sub.From,
				To: s.Address, Page: cfg.Dashboard.Title, Unsubscribe: base + "/unsubscribe?token=" + s.Token}
		case "webhook":
			out[name] = &notify.StatusHook{URL: s.Address, Secret: []byte(s.Token), Client: client,
				Unsubscribe: base + "/unsubscribe?token=" + s.Token}
		}
	}
	a.withSubs, a.subsAt = out, time.Now()
	return out
}

// Poke says a verdict may have changed: the evaluation loop runs at once
// rather than at its next tick.
func (a *Alerts) Poke() {
	select {
	case a.poke <- struct{}{}:
	default:
	}
}

// pokeGap is the least time between two evaluations a poke asks for.
const pokeGap = 100 * time.Millisecond

// Loop runs evaluate every interval, when poked (at most every pokeGap),
// and when a group's group_wait ends, until ctx is done: a page goes out
// as soon as its outage is confirmed and its group has waited, not at the
// next tick. Failures go to failed; took gets each run's duration.
func (a *Alerts) Loop(ctx context.Context, interval time.Duration, evaluate func(context.Context) error, failed func(error), took func(time.Duration)) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	due := time.NewTimer(time.Hour)
	defer due.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-due.C:
		case <-a.poke:
			if wait := pokeGap - time.Since(last); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		}
		last = time.Now()
		if err := evaluate(ctx); err != nil && ctx.Err() == nil {
			failed(err)
		}
		if took != nil {
			took(time.Since(last))
		}
		next := time.Hour
		if at := a.engine.NextDue(); !at.IsZero() {
			next = max(at.Sub(a.o.Now()), time.Millisecond)
		}
		due.Reset(next)
	}
}

// Engine is the rule engine (acknowledgements go through it).
func (a *Alerts) Engine() *alerting.Engine { return a.engine }

// Dispatcher is the outbox dispatcher.
func (a *Alerts) Dispatcher() *alerting.Dispatcher { return a.dispatcher }

// Dispatch delivers notifications until ctx is done, at once when the
// engine queues some.
func (a *Alerts) Dispatch(ctx context.Context) { a.dispatcher.Run(ctx, a.wake) }

// Judged is how many verdicts the last snapshot judged.
func (a *Alerts) Judged() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.judged
}

// levelDelivered tells whether the triggers of an alert's incident at a
// level, queued since since, have all been delivered or have failed for
// good, and when the last of them was.
func (a *Alerts) levelDelivered(ctx context.Context, key string, incident int64, level int, since time.Time) (time.Time, bool, error) {
	hist, err := a.o.Store.AlertNotifications(ctx, key)
	if err != nil {
		return time.Time{}, false, err
	}
	last, queued := since, since.Truncate(time.Millisecond) // stored to the millisecond
	for _, n := range hist {
		m := n.Message
		if m.Action != alerting.ActionTrigger || m.Update || m.Incident != incident || m.Level != level || n.CreatedAt.Before(queued) {
			continue // an update tells of the incident; it is not the level's page
		}
		switch {
		case n.Delivered != nil:
			last = sla.Latest(last, *n.Delivered)
		case n.Failed != nil:
			last = sla.Latest(last, *n.Failed)
		default:
			return time.Time{}, false, nil
		}
	}
	return last, true, nil
}

// Snapshot is what the alert rules see now.
func (a *Alerts) Snapshot(ctx context.Context) alerting.Snapshot {
	cfg := a.o.Config()
	now := a.o.Now()
	probes := a.o.Live.Probes
	healthy, healthyAt := probes.HealthyRegions(now, cfg.UnhealthyAfter()), probes.HealthyAtFor(cfg)
	s := alerting.Snapshot{Now: now, Checks: map[string]alerting.CheckState{}, Regions: map[string]alerting.RegionState{}}
	// Until the probes have had the time to heartbeat after a start, their
	// silence says nothing.
	grace := now.Sub(a.started) < cfg.UnhealthyAfter()+cfg.Probes.HeartbeatInterval.D()
	for _, r := range cfg.Regions {
		s.Regions[r.ID] = alerting.RegionState{Healthy: healthy[r.ID] || grace}
	}
	a.mu.Lock()
	// A full pass when due; otherwise only the checks with newer results.
	changed, seq := a.o.Live.Latest.ChangedSince(a.prevSeq)
	key := healthKey(cfg, healthy, grace)
	full := a.prev == nil || a.prevCfg != cfg || a.prevKey != key || now.Sub(a.prevFull) >= fullSnapshotEvery || now.Before(a.prevFull)
	if full {
		a.prevFull, a.prevCfg, a.prevKey = now, cfg, key
	}
	a.prevSeq = seq
	a.judged = 0
	for _, ch := range cfg.AllChecks() {
		if cs, ok := a.prev[ch.ID]; ok && !full && !changed[ch.ID] {
			a.noteStatus(ch.ID, &cs, now)
			s.Checks[ch.ID] = cs
			continue
		}
		a.judged++
		v := live.Judge(cfg, ch, a.o.Live.Latest, healthy, now, healthyAt)
		cs := alerting.CheckState{Status: v.Status, Classes: map[string]model.ErrorClass{}, Messages: map[string]string{},
			FailedAt: map[string]time.Time{}, Quorum: cfg.CheckQuorum(ch), Maintenance: cfg.InMaintenance(ch.ID, now)}
		for region, rv := range v.Regions {
			if rv.Status == model.StatusDown && rv.Result != nil {
				cs.Failing = append(cs.Failing, region)
				cs.Classes[region], cs.Messages[region] = rv.Result.ErrorClass, rv.Result.Message
				cs.FailedAt[region] = rv.Result.Scheduled
				cs.LastFailure = sla.Latest(cs.LastFailure, rv.Result.Scheduled)
			}
			if rv.Status == model.StatusUp && rv.Healthy {
				cs.Passing++
			}
			if rv.Result != nil && rv.Healthy {
				if d := rv.Result.CertDays(); d != nil && (cs.CertDays == nil || *d < *cs.CertDays) {
					cs.CertDays = d
				}
			}
		}
		slices.Sort(cs.Failing)
		a.noteStatus(ch.ID, &cs, now)
		s.Checks[ch.ID] = cs
	}
	a.prev = s.Checks
	a.mu.Unlock()
	s.SLOs = a.sloStates(ctx, cfg, now)
	return s
}

// events reads what systems told the event rules, as far back as the
// longest hold, when there are event rules.
func (a *Alerts) events(ctx context.Context, cfg *config.Config, now time.Time) ([]alerting.Event, error) {
	var hold time.Duration
	for _, r := range cfg.Alerting.Rules {
		if r.Kind == config.RuleEvent {
			hold = max(hold, r.Hold.D())
		}
	}
	if hold == 0 {
		return nil, nil
	}
	evs, err := a.o.Store.AlertEvents(ctx, now.Add(-hold), store.MaxAlertEvents)
	if err != nil {
		return nil, fmt.Errorf("read the events of event rules: %w", err)
	}
	return evs, nil
}

// healthKey names which regions count as heard from.
func healthKey(cfg *config.Config, healthy map[string]bool, grace bool) string {
	var b strings.Builder
	b.WriteString(strconv.FormatBool(grace))
	for _, r := range cfg.Regions {
		if healthy[r.ID] {
			b.WriteString("," + r.ID)
		}
	}
	return b.String()
}

// noteStatus records when check was last down, up and not up (down or
// degraded), and sets them on cs.
func (a *Alerts) noteStatus(check string, cs *alerting.CheckState, now time.Time) {
	switch cs.Status {
	case model.StatusDown:
		a.lastDown[check], a.lastNotUp[check] = now, now
	case model.StatusDegraded:
		a.lastNotUp[check] = now
	case model.StatusUp:
		a.lastUp[check] = now
	}
	cs.LastDown, cs.LastUp, cs.LastNotUp = a.lastDown[check], a.lastUp[check], a.lastNotUp[check]
}

// sloStates refreshes SLO burn rates at most every 15 s, and only when a
// slo_burn rule needs them.
func (a *Alerts) sloStates(ctx context.Context, cfg *config.Config, now time.Time) map[string]alerting.SLOState {
	need := false
	for _, r := range cfg.Alerting.Rules {
		need = need || r.Kind == config.RuleSLOBurn || r.Kind == config.RuleDisagreement
	}
	if !need {
		return nil
	}
	a.mu.Lock()
	fresh := a.slos != nil && now.Sub(a.slosAt) < 15*time.Second
	cached := a.slos
	a.mu.Unlock()
	if fresh {
		return cached
	}
	out := map[string]alerting.SLOState{}
	for i := range cfg.SLOs {
		r, err := a.o.SLOReport(ctx, &cfg.SLOs[i], now)
		if err != nil {
			a.o.Log.Error("slo burn rates", "slo", cfg.SLOs[i].ID, "err", err)
			continue
		}
		st := alerting.SLOState{Burn: r.BurnRates}
		if r.Recent != nil {
			st.Recent = &alerting.RecentEvents{Good: r.Recent.Good, Valid: r.Recent.Total}
		}
		out[r.ID] = st
	}
	a.mu.Lock()
	a.slos, a.slosAt = out, now
	a.mu.Unlock()
	return out
}

// Evaluate runs the alert rules once.
func (a *Alerts) Evaluate(ctx context.Context) error {
	cfg := a.o.Config()
	s := a.Snapshot(ctx)
	// Unread, the events would seem gone and their alerts resolve: no
	// tick until they are read.
	evs, err := a.events(ctx, cfg, s.Now)
	if err != nil {
		return err
	}
	s.Events = evs
	return a.engine.Tick(ctx, alerting.Setup{Alerting: &cfg.Alerting, Topology: cfg}, s)
}

// Acknowledge stops the escalation of the open alert key, for by.
func (a *Alerts) Acknowledge(ctx context.Context, key, by string) (*alerting.Alert, error) {
	return a.engine.Acknowledge(ctx, &a.o.Config().Alerting, key, by, a.o.Now())
}
