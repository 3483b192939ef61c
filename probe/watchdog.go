package probe

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/PagerDuty/go-pagerduty"
)

// Watchdog: a probe that reaches no controller for a while pages on-call
// itself, through PagerDuty, so that a dead controller (or every replica)
// is not silent. Every probe of an installation sends the same dedup key,
// so seven regions losing their controller make one incident; the first to
// reach a controller again resolves it.
//
// A probe cut off from everything cannot page, and must not page for its
// own isolation once it can: it pages only when a heartbeat tried just
// before fails, and one of its targets answered after the controller first
// failed to, within the watchdog delay. A probe whose checks all run less
// often than that cannot tell, and stays quiet.

// WatchdogOptions configure a probe's watchdog; with no routing key there
// is none.
type WatchdogOptions struct {
	// After is how long without reaching a controller before paging
	// (default 5m).
	After time.Duration
	// RoutingKey is the PagerDuty Events API v2 integration key.
	RoutingKey string
	// EventsURL is the Events API base (default https://events.pagerduty.com).
	EventsURL string
	// DedupKey names the installation's incident (default derived from
	// the controller URL, the same for every probe of an installation).
	DedupKey string
}

const defaultWatchdogAfter = 5 * time.Minute

// watchdog pages while no controller is reached.
type watchdog struct {
	p      *Probe
	o      WatchdogOptions
	client *pagerduty.Client
	// paging is when the trigger was accepted (zero when none is open).
	paging time.Time
}

func newWatchdog(p *Probe, o WatchdogOptions) *watchdog {
	if o.After <= 0 {
		o.After = defaultWatchdogAfter
	}
	if o.EventsURL == "" {
		o.EventsURL = "https://events.pagerduty.com"
	}
	if o.DedupKey == "" {
		o.DedupKey = "nines/controller-unreachable/" + controllerName(p.opts.Controller)
	}
	c := pagerduty.NewClient("", pagerduty.WithV2EventsAPIEndpoint(o.EventsURL))
	c.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	return &watchdog{p: p, o: o, client: c}
}

// controllerName is the controller address every probe of an installation
// is given: its first URL's host.
func controllerName(controllers string) string {
	for i := 0; i < len(controllers); i++ {
		if controllers[i] == ',' {
			controllers = controllers[:i]
			break
		}
	}
	if u, err := url.Parse(controllers); err == nil && u.Host != "" {
		return u.Host
	}
	return controllers
}

// run watches until ctx is done, every tenth of the delay (at most every
// 30 s).
func (w *watchdog) run(ctx context.Context) {
	every := min(w.o.After/10, 30*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.tick(ctx)
	}
}

// lastReached is when a controller last answered a heartbeat, or when the
// probe started if none has.
func (w *watchdog) lastReached() time.Time { return w.p.lastReached() }

func (p *Probe) lastReached() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lastOK.IsZero() {
		return p.started
	}
	return p.lastOK
}

func (w *watchdog) tick(ctx context.Context) {
	p := w.p
	now := p.now()
	last := w.lastReached()
	silent := now.Sub(last)
	if !w.paging.IsZero() {
		if last.After(w.paging) {
			w.resolve(ctx, now, last)
		}
		return
	}
	if silent < w.o.After {
		return
	}
	// Fresh evidence first: a heartbeat now, and an answer from a target
	// after the controller first failed to answer, within the delay.
	if err := p.beat(ctx, "/api/v1/probes/heartbeat"); err == nil {
		return
	}
	p.setReachable(false)
	p.mu.Lock()
	lost := p.lostAt
	p.mu.Unlock()
	target := time.Unix(0, p.reach.target.Load())
	if !target.After(lost) || now.Sub(target) > w.o.After {
		p.log.Warn("no controller reached, and no target either: this probe's own network is down; the watchdog does not page",
			"since", last.UTC().Format(time.RFC3339), "last_target_answer", target.UTC().Format(time.RFC3339))
		return
	}
	w.trigger(ctx, now, last)
}

func (w *watchdog) trigger(ctx context.Context, now, since time.Time) {
	p := w.p
	summary := fmt.Sprintf("nines: no controller reached from %s (probe %s) since %s UTC (%s): the monitor may be down",
		p.opts.Region, p.opts.ProbeID, since.UTC().Format("15:04"), now.Sub(since).Round(time.Second))
	ev := &pagerduty.V2Event{RoutingKey: w.o.RoutingKey, Action: "trigger", DedupKey: w.o.DedupKey, Client: "nines-probe",
		Payload: &pagerduty.V2Payload{Summary: summary, Source: p.opts.ProbeID, Severity: "critical", Timestamp: now.UTC().Format(time.RFC3339),
			Component: "controller", Group: p.opts.Region, Class: "watchdog",
			Details: map[string]any{"region": p.opts.Region, "probe": p.opts.ProbeID, "controller": p.opts.Controller,
				"last_reached": since.UTC().Format(time.RFC3339)}}}
	if _, err := w.client.ManageEventWithContext(ctx, ev); err != nil {
		p.log.Error("watchdog page not sent; trying again", "err", err)
		return
	}
	w.paging = now
	p.m.watchdogPaging.Set(1)
	p.log.Error("no controller reached: watchdog paged", "since", since.UTC().Format(time.RFC3339), "dedup_key", w.o.DedupKey)
}

func (w *watchdog) resolve(ctx context.Context, now, reached time.Time) {
	p := w.p
	ev := &pagerduty.V2Event{RoutingKey: w.o.RoutingKey, Action: "resolve", DedupKey: w.o.DedupKey, Client: "nines-probe"}
	if _, err := w.client.ManageEventWithContext(ctx, ev); err != nil {
		p.log.Error("watchdog resolve not sent; trying again", "err", err)
		return
	}
	p.log.Info("controller reached again: watchdog page resolved", "paged_at", w.paging.UTC().Format(time.RFC3339),
		"reached_at", reached.UTC().Format(time.RFC3339))
	w.paging = time.Time{}
	p.m.watchdogPaging.Set(0)
}
