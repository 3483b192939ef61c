package pages

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/nines-sre/nines/alerting"
	"github.com/nines-sre/nines/alerting/notify"
	"github.com/nines-sre/nines/controller/store"
)

// Subscribers hear through the alert outbox (retries, history): every
// status page event is queued once per confirmed subscriber of its
// components, under a key of its own (status:…), which the store keeps
// unique, so an event offered again (each evaluation, a crash, another
// replica) is queued once. The notifier of a subscriber is
// subscriber:{id} (controller/alerts builds it).

// told remembers the events already queued by this controller, so that an
// event offered at every evaluation costs the store nothing after the
// first.
type told struct {
	mu sync.Mutex
	m  map[string]bool
}

func (t *told) has(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[key]
}

func (t *told) add(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil || len(t.m) > 100_000 {
		t.m = map[string]bool{}
	}
	t.m[key] = true
}

// SubscriberNotifier names the notifier of a subscriber in the outbox.
func SubscriberNotifier(id int64) string { return "subscriber:" + strconv.FormatInt(id, 10) }

// tell queues m under key for every confirmed subscriber of one of
// components (a subscriber of no component in particular hears of all).
func (s *Source) tell(ctx context.Context, key string, components []string, m alerting.Message) error {
	cfg := s.o.Config()
	if cfg.Dashboard.Subscriptions == nil || s.told.has(key) {
		return nil
	}
	subs, err := s.o.Store.Subscribers(ctx)
	if err != nil {
		return err
	}
	now := s.o.Now()
	m.AlertKey, m.Action, m.At, m.Source = key, alerting.ActionTrigger, now.UTC(), "nines-status"
	var notes []alerting.Notification
	for _, sub := range subs {
		if sub.ConfirmedAt == nil || (m.Class == "component" && sub.Kind != "webhook") {
			continue // a component's change is told to webhooks alone, as Statuspage does
		}
		if len(sub.Components) > 0 && !slices.ContainsFunc(components, func(c string) bool { return slices.Contains(sub.Components, c) }) {
			continue
		}
		notes = append(notes, alerting.Notification{Notifier: SubscriberNotifier(sub.ID), Message: m, CreatedAt: now, NextAt: now})
	}
	if len(notes) > 0 {
		if _, err := s.o.Store.EnqueueNotifications(ctx, key, notes); err != nil {
			return err
		}
	}
	s.told.add(key)
	return nil
}

// tellIncident tells subscribers of an incident's news: the incident as
// Statuspage's webhooks carry it, and, to webhooks, each component whose
// status the news changed.
func (s *Source) tellIncident(ctx context.Context, key string, in *store.Incident, status, body string) error {
	cfg := s.o.Config()
	if cfg.Dashboard.Subscriptions == nil || s.told.has(key) {
		return nil
	}
	base := strings.TrimRight(cfg.Alerting.DashboardURL, "/")
	link := base + IncidentPath(in.ID)
	components := in.Components
	if len(components) == 0 {
		components = []string{in.Component}
	}
	d, err := s.v2(ctx, base)
	if err != nil {
		return err
	}
	page := d.hookPage()
	payload, err := generic(map[string]any{"page": page, "incident": d.incident(*in)})
	if err != nil {
		return err
	}
	if len(in.Updates) > 0 {
		u, n := in.Updates[0], len(in.Updates)
		for _, c := range u.Affected {
			if c.Old == c.New {
				continue
			}
			comp, ok := d.byID[c.Component]
			if !ok {
				continue
			}
			at := v2t(u.At)
			change, err := generic(map[string]any{"page": page,
				"component_update": map[string]any{"id": fmt.Sprintf("%d-%d-%s", in.ID, n, c.Component), "component_id": c.Component, "created_at": at,
					"old_status": c.Old, "new_status": c.New},
				"component": map[string]any{"id": c.Component, "name": comp.Name, "status": c.New, "created_at": comp.CreatedAt}})
			if err != nil {
				return err
			}
			err = s.tell(ctx, fmt.Sprintf("status:incident-%d-update-%d-component-%s", in.ID, n, c.Component), []string{c.Component},
				alerting.Message{Summary: fmt.Sprintf("%s: %s", comp.Name, strings.ReplaceAll(c.New, "_", " ")), Link: link, Component: c.Component,
					Class: "component", Details: map[string]any{notify.PayloadKey: change}})
			if err != nil {
				return err
			}
		}
	}
	return s.tell(ctx, key, components, alerting.Message{Summary: fmt.Sprintf("%s: %s", title(status), in.Title),
		Link: link, Component: in.Component, Class: "incident",
		Details: map[string]any{"incident": in.ID, "status": status, "body": body, "components": components, notify.PayloadKey: payload}})
}

// hookPage is the page object of Statuspage's webhook payloads.
func (d *v2) hookPage() map[string]any {
	return map[string]any{"id": d.page.ID, "status_indicator": d.status.Indicator, "status_description": d.status.Description}
}

// generic is v as JSON reads it back: what the outbox keeps and the
// notifier finds.
func generic(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	return out, json.Unmarshal(b, &out)
}

// tellMaintenance tells subscribers of announced maintenance windows ws
// (within 30 days ahead, dated when announced): when one is announced and
// when it starts.
func (s *Source) tellMaintenance(ctx context.Context, ws []window) error {
	cfg := s.o.Config()
	if cfg.Dashboard.Subscriptions == nil {
		return nil
	}
	base := strings.TrimRight(cfg.Alerting.DashboardURL, "/")
	var d *v2
	for _, w := range ws {
		announcedKey, startedKey := "status:maintenance-"+w.ID+"-announced", "status:maintenance-"+w.ID+"-started"
		if s.told.has(announcedKey) && (w.Status != "in_progress" || s.told.has(startedKey)) {
			continue
		}
		if d == nil {
			var err error
			if d, err = s.v2(ctx, base); err != nil {
				return err
			}
		}
		page := d.hookPage()
		payload, err := generic(map[string]any{"page": page, "incident": d.maintenance(w)})
		if err != nil {
			return err
		}
		when := fmt.Sprintf("%s to %s", w.Start.Format("2006-01-02 15:04 UTC"), w.End.Format("2006-01-02 15:04 UTC"))
		m := alerting.Message{Link: base + MaintenancePath(w.ID), Class: "maintenance",
			Details: map[string]any{"maintenance": w.ID, "start": w.Start, "end": w.End, "components": w.Components, notify.PayloadKey: payload}}
		m.Summary = "Scheduled maintenance: " + w.Name + ", " + when
		if err := s.tell(ctx, announcedKey, w.componentIDs, m); err != nil {
			return err
		}
		if w.Status == "in_progress" {
			m.Summary = "Maintenance in progress: " + w.Name + ", " + when
			if err := s.tell(ctx, startedKey, w.componentIDs, m); err != nil {
				return err
			}
		}
	}
	return nil
}

func title(status string) string {
	if status == "" {
		return ""
	}
	return strings.ToUpper(status[:1]) + status[1:]
}
