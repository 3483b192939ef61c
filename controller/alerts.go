package controller

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/PagerDuty/go-pagerduty/webhookv3"
	"github.com/labstack/echo/v4"

	"github.com/nines-sre/nines/alerting"
	"github.com/nines-sre/nines/alerting/notify"
	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/ingest"
	"github.com/nines-sre/nines/controller/live"
	"github.com/nines-sre/nines/controller/sla"
	"github.com/nines-sre/nines/model"
)

// alertState is the controller's alerting machinery.
type alertState struct {
	engine     *alerting.Engine
	dispatcher *alerting.Dispatcher
	wake       chan struct{}
	started    time.Time

	mu        sync.Mutex
	lastDown  map[string]time.Time // check → the last time its verdict was down
	slos      map[string]alerting.SLOState
	slosAt    time.Time
	notifiers map[string]alerting.Notifier
	notifVer  string

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

func (c *Controller) initAlerting(client *http.Client) {
	a := &c.alerts
	a.wake = make(chan struct{}, 1)
	a.started = c.now()
	a.lastDown = map[string]time.Time{}
	a.engine = alerting.NewEngine(c.store, c.log, "nines-controller")
	a.engine.Wake = a.wake
	a.engine.Delivered = c.levelDelivered
	a.dispatcher = alerting.NewDispatcher(c.store, func() map[string]alerting.Notifier {
		cfg := c.Config()
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.notifiers == nil || a.notifVer != cfg.Version {
			a.notifiers, a.notifVer = notify.Build(cfg.Alerting.Notifiers, client), cfg.Version
		}
		return a.notifiers
	}, c.log, c.now, c.reg)
}

// levelDelivered tells whether the triggers of an alert's incident at a
// level, queued since since, have all been delivered or have failed for
// good, and when the last of them was.
func (c *Controller) levelDelivered(ctx context.Context, key string, incident int64, level int, since time.Time) (time.Time, bool, error) {
	hist, err := c.store.AlertNotifications(ctx, key)
	if err != nil {
		return time.Time{}, false, err
	}
	last, queued := since, since.Truncate(time.Millisecond) // stored to the millisecond
	for _, n := range hist {
		m := n.Message
		if m.Action != alerting.ActionTrigger || m.Incident != incident || m.Level != level || n.CreatedAt.Before(queued) {
			continue
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

// Dispatcher exposes the outbox dispatcher (tests tune its backoff).
func (c *Controller) Dispatcher() *alerting.Dispatcher { return c.alerts.dispatcher }

// snapshot is what the alert rules see now.
func (c *Controller) snapshot(ctx context.Context) alerting.Snapshot {
	cfg := c.Config()
	now := c.now()
	healthy, healthyAt := c.probes.HealthyRegions(now, cfg.UnhealthyAfter()), c.probes.HealthyAtFor(cfg)
	s := alerting.Snapshot{Now: now, Checks: map[string]alerting.CheckState{}, Regions: map[string]alerting.RegionState{}}
	// Until the probes have had the time to heartbeat after a start, their
	// silence says nothing.
	grace := c.now().Sub(c.alerts.started) < cfg.UnhealthyAfter()+cfg.Probes.HeartbeatInterval.D()
	for _, r := range cfg.Regions {
		s.Regions[r.ID] = alerting.RegionState{Healthy: healthy[r.ID] || grace}
	}
	a := &c.alerts
	a.mu.Lock()
	// A full pass when due; otherwise only the checks with newer results.
	changed, seq := c.latest.ChangedSince(a.prevSeq)
	key := healthKey(cfg, healthy, grace)
	full := a.prev == nil || a.prevCfg != cfg || a.prevKey != key || now.Sub(a.prevFull) >= fullSnapshotEvery || now.Before(a.prevFull)
	if full {
		a.prevFull, a.prevCfg, a.prevKey = now, cfg, key
	}
	a.prevSeq = seq
	a.judged = 0
	for _, ch := range cfg.AllChecks() {
		if cs, ok := a.prev[ch.ID]; ok && !full && !changed[ch.ID] {
			if cs.Status == model.StatusDown {
				a.lastDown[ch.ID] = now
				cs.LastDown = now
			}
			s.Checks[ch.ID] = cs
			continue
		}
		a.judged++
		v := live.Judge(cfg, ch, c.latest, healthy, now, healthyAt)
		cs := alerting.CheckState{Status: v.Status, Classes: map[string]model.ErrorClass{}, Messages: map[string]string{},
			Maintenance: cfg.InMaintenance(ch.ID, now)}
		for region, rv := range v.Regions {
			if rv.Status == model.StatusDown && rv.Result != nil {
				cs.Failing = append(cs.Failing, region)
				cs.Classes[region], cs.Messages[region] = rv.Result.ErrorClass, rv.Result.Message
				cs.LastFailure = sla.Latest(cs.LastFailure, rv.Result.Scheduled)
			}
			if rv.Result != nil && rv.Healthy {
				if d := rv.Result.CertDays(); d != nil && (cs.CertDays == nil || *d < *cs.CertDays) {
					cs.CertDays = d
				}
			}
		}
		slices.Sort(cs.Failing)
		if v.Status == model.StatusDown {
			a.lastDown[ch.ID] = now
		}
		cs.LastDown = a.lastDown[ch.ID]
		s.Checks[ch.ID] = cs
	}
	a.prev = s.Checks
	a.mu.Unlock()
	s.SLOs = c.sloStates(ctx, cfg, now)
	return s
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

// sloStates refreshes SLO burn rates at most every 15 s, and only when a
// slo_burn rule needs them.
func (c *Controller) sloStates(ctx context.Context, cfg *config.Config, now time.Time) map[string]alerting.SLOState {
	need := false
	for _, r := range cfg.Alerting.Rules {
		need = need || r.Kind == config.RuleSLOBurn
	}
	if !need {
		return nil
	}
	a := &c.alerts
	a.mu.Lock()
	fresh := a.slos != nil && now.Sub(a.slosAt) < 15*time.Second
	cached := a.slos
	a.mu.Unlock()
	if fresh {
		return cached
	}
	out := map[string]alerting.SLOState{}
	for i := range cfg.SLOs {
		r, err := c.ledger.SLOReport(ctx, &cfg.SLOs[i], now)
		if err != nil {
			c.log.Error("slo burn rates", "slo", cfg.SLOs[i].ID, "err", err)
			continue
		}
		out[r.ID] = alerting.SLOState{Burn: r.BurnRates}
	}
	a.mu.Lock()
	a.slos, a.slosAt = out, now
	a.mu.Unlock()
	return out
}

// EvaluateAlerts runs the alert rules once.
func (c *Controller) EvaluateAlerts(ctx context.Context) error {
	if err := c.alerts.engine.Tick(ctx, alertSetup(c.Config()), c.snapshot(ctx)); err != nil {
		return err
	}
	return c.syncIncidents(ctx)
}

// API

func (c *Controller) handleAlerts(ec echo.Context) error {
	as, err := c.store.RecentAlerts(ec.Request().Context(), c.now().Add(-24*time.Hour))
	if err != nil {
		return err
	}
	if as == nil {
		as = []alerting.Alert{}
	}
	return ec.JSON(http.StatusOK, map[string]any{"alerts": as})
}

// alertKey is the alert key in the rest of the path, less suffix.
func alertKey(ec echo.Context, suffix string) (string, bool) {
	rest, err := url.PathUnescape(ec.Param("*"))
	if err != nil {
		return "", false
	}
	key, ok := strings.CutSuffix(rest, suffix)
	return key, ok && key != ""
}

func (c *Controller) handleAlert(ec echo.Context) error {
	ctx := ec.Request().Context()
	key, ok := alertKey(ec, "")
	if !ok {
		return fail(ec, http.StatusBadRequest, "key", "the path must name an alert: /api/v1/alerts/{key}")
	}
	a, err := c.store.Alert(ctx, key)
	if err != nil {
		return err
	}
	if a == nil {
		return fail(ec, http.StatusNotFound, "key", "no alert "+key)
	}
	hist, err := c.store.AlertNotifications(ctx, a.Key)
	if err != nil {
		return err
	}
	return ec.JSON(http.StatusOK, map[string]any{"alert": a, "notifications": hist})
}

// authAPI accepts the configured API tokens.
// readAPI lets reads through, or with api.private only those that carry
// an API token.
func (c *Controller) readAPI(next echo.HandlerFunc) echo.HandlerFunc {
	authed := c.authAPI(next)
	return func(ec echo.Context) error {
		if c.Config().API.Private {
			return authed(ec)
		}
		return next(ec)
	}
}

func (c *Controller) authAPI(next echo.HandlerFunc) echo.HandlerFunc {
	return func(ec echo.Context) error {
		tok, _ := strings.CutPrefix(ec.Request().Header.Get("Authorization"), "Bearer ")
		for _, t := range c.Config().Alerting.APITokens {
			if tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(t)) == 1 {
				return next(ec)
			}
		}
		return fail(ec, http.StatusUnauthorized, "Authorization", "an API token from alerting.api_tokens is required")
	}
}

func (c *Controller) handleAck(ec echo.Context) error {
	key, ok := alertKey(ec, "/ack")
	if !ok {
		return fail(ec, http.StatusNotFound, "", "no such action: POST /api/v1/alerts/{key}/ack acknowledges an alert")
	}
	var body struct {
		By string `json:"by"`
	}
	// The body is optional: {"by": "who"}.
	if be := decodeSmall(ec, &body, true); be != nil {
		return fail(ec, be.Code, "", be.Msg)
	}
	if body.By == "" {
		body.By = "api"
	}
	a, err := c.alerts.engine.Acknowledge(ec.Request().Context(), &c.Config().Alerting, key, body.By, c.now())
	switch {
	case errors.Is(err, alerting.ErrNotFound):
		return fail(ec, http.StatusNotFound, "key", err.Error())
	case errors.Is(err, alerting.ErrNotOpen):
		return fail(ec, http.StatusConflict, "key", err.Error())
	case err != nil:
		return err
	}
	return ec.JSON(http.StatusOK, a)
}

// handlePagerDutyWebhook takes acknowledgements from PagerDuty (webhooks
// v3). Every v1= signature in X-PagerDuty-Signature is an HMAC-SHA256 of the
// body; one must match the configured secret.
func (c *Controller) handlePagerDutyWebhook(ec echo.Context) error {
	secret := c.Config().Alerting.PagerDutyWebhookSecret
	if secret == "" {
		return fail(ec, http.StatusNotFound, "", "no PagerDuty webhook secret is configured")
	}
	// The body is bounded (PagerDuty's own limit) before anything else;
	// the signature is go-pagerduty's webhookv3 check.
	r := ec.Request()
	body, be := ingest.ReadLimited(ec.Response(), r, ingest.MaxWebhookBytes)
	if be != nil {
		return fail(ec, be.Code, "", be.Msg)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	// Signatures listed with spaces after the commas are accepted too.
	r.Header.Set("X-PagerDuty-Signature", strings.ReplaceAll(r.Header.Get("X-PagerDuty-Signature"), " ", ""))
	if err := webhookv3.VerifySignature(r, secret); err != nil {
		return fail(ec, http.StatusUnauthorized, "X-PagerDuty-Signature", "signature does not match the configured secret: "+err.Error())
	}
	var ev struct {
		Event struct {
			EventType string `json:"event_type"`
			Agent     struct {
				Summary string `json:"summary"`
			} `json:"agent"`
			Data struct {
				IncidentKey string `json:"incident_key"`
			} `json:"data"`
		} `json:"event"`
	}
	if err := ingest.Unmarshal(body, &ev); err != nil {
		return fail(ec, http.StatusBadRequest, "", err.Error())
	}
	if ev.Event.EventType != "incident.acknowledged" || ev.Event.Data.IncidentKey == "" {
		return ec.NoContent(http.StatusNoContent) // other events are of no concern
	}
	by := "pagerduty"
	if ev.Event.Agent.Summary != "" {
		by = "pagerduty: " + ev.Event.Agent.Summary
	}
	if _, err := c.alerts.engine.Acknowledge(ec.Request().Context(), &c.Config().Alerting, ev.Event.Data.IncidentKey, by, c.now()); err != nil &&
		!errors.Is(err, alerting.ErrNotFound) && !errors.Is(err, alerting.ErrNotOpen) {
		return fmt.Errorf("acknowledge from PagerDuty: %w", err)
	}
	return ec.NoContent(http.StatusNoContent)
}

// alertSetup is the view of cfg that alerting reads.
func alertSetup(cfg *config.Config) alerting.Setup {
	return alerting.Setup{Alerting: &cfg.Alerting, Topology: cfg}
}
