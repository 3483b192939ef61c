package config

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// SLO is a service level objective over one or more checks.
type SLO struct {
	ID     string   `yaml:"id"`
	Name   string   `yaml:"name"`
	Checks []string `yaml:"checks"`
	// Target is a percentage, e.g. 99.9.
	Target float64 `yaml:"target"`
	// Window is a rolling window ("30d", "28d", "7d") or "calendar_month".
	Window string `yaml:"window"`
	// SLI is availability (good minutes / valid minutes: timeslices),
	// latency (results faster than Threshold / all results: occurrences)
	// or events (good events / valid events of real traffic, as Events
	// counts them: request-based). An events SLO's Checks, if any, are
	// the checks that watch the same service synthetically, shown beside
	// it.
	SLI       string       `yaml:"sli"`
	Threshold Duration     `yaml:"threshold"`
	Events    *EventSource `yaml:"events"`
}

// SLI kinds.
const (
	SLIAvailability = "availability"
	SLILatency      = "latency"
	SLIEvents       = "events"
)

// EventSource is where an events SLI's counts come from: one of Push and
// Prometheus.
type EventSource struct {
	Push       *EventPush       `yaml:"push"`
	Prometheus *EventPrometheus `yaml:"prometheus"`
}

// Kind is push or prometheus.
func (e *EventSource) Kind() string {
	if e != nil && e.Prometheus != nil {
		return "prometheus"
	}
	return "push"
}

// EventPush takes the counts a system POSTs, per minute, to
// /sli/{slo}/{key}: Key, or KeyFile holding it, is the credential.
type EventPush struct {
	Key     string `yaml:"key"`
	KeyFile string `yaml:"key_file"`

	keyHash [32]byte
}

// KeyMatches reports, in constant time, whether key is the SLO's.
func (p *EventPush) KeyMatches(key string) bool { return keyMatches(p.keyHash, key) }

// EventPrometheus asks a Prometheus server, for each minute, two PromQL
// queries: the good events and the valid events of the minute that ends
// at the query's time, e.g.
// sum(increase(contentsvc_renders_total{level=~"fresh|cached"}[1m])).
type EventPrometheus struct {
	URL   string `yaml:"url"`
	Good  string `yaml:"good"`
	Valid string `yaml:"valid"`
	// Delay is how long after a minute's end it is asked, so that the
	// server has scraped it (default 1m).
	Delay Duration `yaml:"delay"`
}

// Maintenance is a window in which the listed checks (or every check of the
// listed components) are under maintenance: their minutes are excluded from
// SLOs and their alerts are silenced.
type Maintenance struct {
	ID         string   `yaml:"id"`
	Reason     string   `yaml:"reason"`
	Checks     []string `yaml:"checks"`
	Components []string `yaml:"components"`
	Start      string   `yaml:"start"`
	End        string   `yaml:"end"`
	// Every makes the window recurring: a cron spec (e.g. "0 2 * * SUN")
	// for each start, lasting Duration; Start and End, when set, bound the
	// recurrence.
	Every    string   `yaml:"every"`
	Duration Duration `yaml:"duration"`
	// Announce shows the window on the status page, in its feeds and to
	// its subscribers ahead of time, as scheduled maintenance.
	Announce bool `yaml:"announce"`

	start, end time.Time
	sched      cron.Schedule
}

// Interval is one occurrence of a maintenance window.
type Interval struct {
	Start, End time.Time
}

// Occurrences returns the occurrences of m that overlap [from, to), at most
// 10,000.
func (m *Maintenance) Occurrences(from, to time.Time) []Interval {
	if m.sched == nil {
		if m.end.After(from) && m.start.Before(to) {
			return []Interval{{m.start, m.end}}
		}
		return nil
	}
	d := m.Duration.D()
	var out []Interval
	for s := m.sched.Next(from.Add(-d)); s.Before(to) && len(out) < 10000; s = m.sched.Next(s) {
		if (!m.start.IsZero() && s.Before(m.start)) || (!m.end.IsZero() && !s.Before(m.end)) {
			if !m.end.IsZero() && !s.Before(m.end) {
				break
			}
			continue
		}
		out = append(out, Interval{s, s.Add(d)})
	}
	return out
}

// CalendarMonth is the SLO window that runs from the first of the month.
const CalendarMonth = "calendar_month"

// Ratio is the target as a ratio: 99.9 → 0.999.
func (s *SLO) Ratio() float64 { return s.Target / 100 }

// WindowAt returns the window's bounds for an SLO evaluated at now.
func (s *SLO) WindowAt(now time.Time) (from, to time.Time) {
	now = now.UTC()
	if s.Window == CalendarMonth {
		return time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC), now
	}
	d, _ := parseWindow(s.Window)
	return now.Add(-d), now
}

// parseWindow reads "30d", "12h" or "90m".
func parseWindow(w string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(w, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 1 || days > 400 {
			return 0, fmt.Errorf("%q is not a number of days from 1 to 400", w)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(w)
	if err != nil || d < time.Hour {
		return 0, fmt.Errorf("%q is not a window such as 30d, 28d, 12h or calendar_month", w)
	}
	return d, nil
}

// Active reports whether check (of component) is under maintenance at t.
func (m *Maintenance) Active(check, component string, t time.Time) bool {
	if m.sched != nil {
		if len(m.Occurrences(t, t.Add(time.Nanosecond))) == 0 {
			return false
		}
	} else if t.Before(m.start) || !t.Before(m.end) {
		return false
	}
	for _, c := range m.Checks {
		if c == check {
			return true
		}
	}
	for _, c := range m.Components {
		if c == component {
			return true
		}
	}
	return false
}

// MaintenanceChecks lists the checks a window covers, components expanded.
func (c *Config) MaintenanceChecks(m *Maintenance) []string {
	seen := map[string]bool{}
	var out []string
	for _, ch := range m.Checks {
		if !seen[ch] {
			seen[ch] = true
			out = append(out, ch)
		}
	}
	for _, comp := range c.Components {
		if !slices.Contains(m.Components, comp.ID) {
			continue
		}
		for _, ch := range comp.Checks {
			if !seen[ch.ID] {
				seen[ch.ID] = true
				out = append(out, ch.ID)
			}
		}
	}
	return out
}

// InMaintenance reports whether check is under maintenance at t.
func (c *Config) InMaintenance(check string, t time.Time) bool {
	comp := c.ComponentOf(check)
	for i := range c.Maintenance {
		if c.Maintenance[i].Active(check, comp, t) {
			return true
		}
	}
	return false
}

// LatencyThresholds returns the thresholds, in milliseconds, that latency
// SLOs set on check.
func (c *Config) LatencyThresholds(check string) []int64 {
	var out []int64
	for _, s := range c.SLOs {
		if s.SLI != SLILatency || !slices.Contains(s.Checks, check) {
			continue
		}
		if ms := s.Threshold.D().Milliseconds(); !slices.Contains(out, ms) {
			out = append(out, ms)
		}
	}
	return out
}

// SLO returns the SLO with id, or nil.
func (c *Config) SLO(id string) *SLO {
	for i := range c.SLOs {
		if c.SLOs[i].ID == id {
			return &c.SLOs[i]
		}
	}
	return nil
}

func (v *validator) validateSLOs(c *Config, checks map[string]string, dir string) {
	seen := map[string]bool{}
	for i := range c.SLOs {
		s := &c.SLOs[i]
		p := fmt.Sprintf("slos[%d]", i)
		if s.Window == "" {
			s.Window = "30d"
		}
		if s.SLI == "" {
			s.SLI = "availability"
		}
		if s.Name == "" {
			s.Name = s.ID
		}
		v.id(p+".id", "SLO", s.ID, seen)
		if len(s.Checks) == 0 && s.SLI != SLIEvents {
			v.add(p+".checks", "an SLO needs at least one check")
		}
		for k, ch := range s.Checks {
			if _, ok := checks[ch]; !ok && v.sound("components") {
				v.add(fmt.Sprintf("%s.checks[%d]", p, k), "unknown check %q", ch)
			}
		}
		if s.Target <= 0 || s.Target >= 100 {
			v.add(p+".target", "%v is not a percentage between 0 and 100 (e.g. 99.9)", s.Target)
		}
		if s.Window != CalendarMonth {
			if _, err := parseWindow(s.Window); err != nil {
				v.add(p+".window", "%v", err)
			}
		}
		if s.Events != nil && s.SLI != SLIEvents {
			v.add(p+".events", "only an events SLI takes events")
		}
		switch s.SLI {
		case SLIAvailability, SLIEvents:
			if s.Threshold != 0 {
				v.add(p+".threshold", "only a latency SLI takes a threshold")
			}
		case SLILatency:
			if s.Threshold.D() < time.Millisecond || s.Threshold.D()%time.Millisecond != 0 {
				v.add(p+".threshold", "a latency SLI needs a threshold of whole milliseconds, e.g. 300ms")
			}
		default:
			v.add(p+".sli", "%q is not availability, latency or events", s.SLI)
		}
		if s.SLI == SLIEvents {
			v.eventSource(s.Events, p+".events", dir)
		}
	}
	windows := map[string]bool{}
	for i := range c.Maintenance {
		m := &c.Maintenance[i]
		p := fmt.Sprintf("maintenance[%d]", i)
		v.id(p+".id", "maintenance window", m.ID, windows)
		var err error
		recurring := m.Every != ""
		if recurring {
			if m.sched, err = cron.ParseStandard(m.Every); err != nil {
				v.add(p+".every", "%v", err)
			}
			if m.Duration.D() < time.Minute {
				v.add(p+".duration", "a recurring window needs a duration of a minute or more")
			}
		} else if m.Duration != 0 {
			v.add(p+".duration", "only a recurring window (every) takes a duration; a one-off one has start and end")
		}
		if m.Start != "" || !recurring {
			if m.start, err = time.Parse(time.RFC3339, m.Start); err != nil {
				v.add(p+".start", "%q is not an RFC 3339 time such as 2026-12-01T02:00:00Z", m.Start)
			}
		}
		if m.End != "" || !recurring {
			if m.end, err = time.Parse(time.RFC3339, m.End); err != nil {
				v.add(p+".end", "%q is not an RFC 3339 time such as 2026-12-01T04:00:00Z", m.End)
			} else if !m.end.After(m.start) {
				v.add(p+".end", "must be after start")
			}
		}
		if len(m.Checks)+len(m.Components) == 0 {
			v.add(p, "name the checks or components under maintenance")
		}
		for k, ch := range m.Checks {
			if _, ok := checks[ch]; !ok && v.sound("components") {
				v.add(fmt.Sprintf("%s.checks[%d]", p, k), "unknown check %q", ch)
			}
		}
		for k, comp := range m.Components {
			if !c.hasComponent(comp) && v.sound("components") {
				v.add(fmt.Sprintf("%s.components[%d]", p, k), "unknown component %q", comp)
			}
		}
	}
}

func (c *Config) hasComponent(id string) bool { return c.Component(id) != nil }

// eventSource validates an events SLI's source.
func (v *validator) eventSource(e *EventSource, p, dir string) {
	switch {
	case e == nil || (e.Push == nil) == (e.Prometheus == nil):
		v.add(p, "an events SLI counts from one source: push or prometheus")
	case e.Push != nil:
		e.Push.keyHash = v.urlKey(p+".push", dir, &e.Push.Key, e.Push.KeyFile)
	default:
		q := e.Prometheus
		if u, err := url.Parse(q.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add(p+".prometheus.url", "%q is not an http(s) URL of a Prometheus server", q.URL)
		}
		for _, f := range [][2]string{{"good", q.Good}, {"valid", q.Valid}} {
			name, expr := f[0], f[1]
			if strings.TrimSpace(expr) == "" || len(expr) > 4096 {
				v.add(p+".prometheus."+name, "a PromQL query (at most 4096 bytes) of the %s events of a minute is needed", name)
			}
		}
		if q.Delay == 0 {
			q.Delay = Duration(time.Minute)
		}
		if q.Delay < 0 || q.Delay.D() > time.Hour {
			v.add(p+".prometheus.delay", "%s is not between 0 and 1h", q.Delay.D())
		}
	}
}
