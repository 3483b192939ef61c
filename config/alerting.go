package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/nines-sre/nines/model"
)

// Alerting configures who is told what: notifiers, escalation policies and
// rules.
type Alerting struct {
	// DashboardURL is linked from every notification.
	DashboardURL string `yaml:"dashboard_url"`
	// APITokens may acknowledge alerts through the API.
	APITokens []string   `yaml:"api_tokens"`
	Notifiers []Notifier `yaml:"notifiers"`
	Policies  []Policy   `yaml:"policies"`
	Rules     []Rule     `yaml:"rules"`
	// PagerDutyWebhookSecret verifies acknowledgements sent by PagerDuty
	// (webhooks v3, X-PagerDuty-Signature).
	PagerDutyWebhookSecret string `yaml:"pagerduty_webhook_secret"`
	// Deadman, when set, is a dead man's switch: the controller (the
	// leader) calls its URL every interval, and a service such as
	// Healthchecks pages when the calls stop.
	Deadman *Deadman `yaml:"deadman"`
	// GroupBy names what the alerts of one notification stream (one
	// PagerDuty incident, one Slack series, one public incident) share
	// besides their policy: nothing more (the default, [policy]: every
	// alert of a policy joins the group open for it), or component, check,
	// rule or region. [check] gives every check and SLO its own stream.
	GroupBy []string `yaml:"group_by"`
	// GroupWait is how long a new group waits for more alerts before its
	// first notification (default 1s); GroupInterval, how long an open
	// group waits after a notification before it tells of checks that
	// joined or recovered (default 30s).
	GroupWait     *Duration `yaml:"group_wait"`
	GroupInterval *Duration `yaml:"group_interval"`
}

// Grouping defaults.
const (
	DefaultGroupWait     = time.Second
	DefaultGroupInterval = 30 * time.Second
)

// GroupLabels are what group_by may name.
var GroupLabels = []string{"policy", "component", "check", "rule", "region"}

// Wait is the group wait in force.
func (a *Alerting) Wait() time.Duration {
	if a.GroupWait == nil {
		return DefaultGroupWait
	}
	return a.GroupWait.D()
}

// Interval is the group interval in force.
func (a *Alerting) Interval() time.Duration {
	if a.GroupInterval == nil {
		return DefaultGroupInterval
	}
	return a.GroupInterval.D()
}

// Deadman is a URL the controller calls while it is alive.
type Deadman struct {
	URL   string   `yaml:"url"`
	Every Duration `yaml:"every"` // default 1m, 10s at least
}

// Policy is an escalation policy: levels tried in order until someone
// acknowledges; Repeat starts again from the first level that many times,
// after the first level's delay (or, when that is zero, the last level's;
// a minute at least).
type Policy struct {
	ID     string  `yaml:"id"`
	Levels []Level `yaml:"levels"`
	Repeat int     `yaml:"repeat"`
}

// Level is one step of a policy: after Delay (from the previous level, or
// from firing for the first) its targets are notified.
type Level struct {
	Delay   Duration `yaml:"delay"`
	Targets []string `yaml:"targets"`
}

// GroupRule is the rule name of alert groups: a group's key is
// group:POLICY[/VALUE...], so no rule may take it.
const GroupRule = "group"

// Rule kinds.
const (
	RuleCheckDown        = "check_down"
	RuleSLOBurn          = "slo_burn"
	RuleCertExpiry       = "cert_expiry"
	RuleProbeSilent      = "probe_silent"
	RuleRegionalDegraded = "regional_degraded"
	// RuleDisagreement: an events SLO's real users and the probes of
	// its checks disagree (one side failing, the other not).
	RuleDisagreement = "disagreement"
	// RuleEvent: a system tells nines something happened (POST
	// /events/{rule}/{key}): each event key is an alert.
	RuleEvent = "event"
)

// DefaultEventHold is how long an event keeps its alert open after its
// last trigger, unless resolved sooner.
const DefaultEventHold = time.Hour

// Rule decides when an alert fires.
type Rule struct {
	ID   string `yaml:"id"`
	Kind string `yaml:"kind"`
	// Checks and Components select checks (default: every check); SLOs
	// select SLOs for slo_burn (default: every SLO).
	Checks     []string `yaml:"checks"`
	Components []string `yaml:"components"`
	SLOs       []string `yaml:"slos"`
	// For is how long the condition must hold before the alert fires.
	For Duration `yaml:"for"`
	// ResolveAfter is how long the condition must be gone before the alert
	// resolves (flap damping).
	ResolveAfter Duration `yaml:"resolve_after"`
	Severity     string   `yaml:"severity"` // critical, error, warning, info
	Urgency      string   `yaml:"urgency"`  // high, low
	Policy       string   `yaml:"policy"`
	// slo_burn: the page and ticket tiers and where each goes.
	Windows      []BurnWindow `yaml:"windows"`
	TicketPolicy string       `yaml:"ticket_policy"`
	// cert_expiry: alert when fewer days are left.
	Days int `yaml:"days"`
	// disagreement: real users fail when their bad share over 5 minutes
	// is more than Factor times what the SLO's target allows (default 2).
	Factor float64 `yaml:"factor"`
	// event: Key, or KeyFile holding it, is the secret in the events'
	// URL; each event keeps its alert open for Hold after its last
	// trigger (default 1h), unless resolved sooner. Components names at
	// most one component, the alerts'.
	Key     string   `yaml:"key"`
	KeyFile string   `yaml:"key_file"`
	Hold    Duration `yaml:"hold"`
	keyHash [32]byte
}

// KeyMatches reports, in constant time, whether key is an event rule's.
func (r *Rule) KeyMatches(key string) bool { return r.Kind == RuleEvent && keyMatches(r.keyHash, key) }

// BurnWindow is one multiwindow tier: both windows burn faster than Factor.
type BurnWindow struct {
	Severity string  `yaml:"severity"` // page or ticket
	Long     string  `yaml:"long"`
	Short    string  `yaml:"short"`
	Factor   float64 `yaml:"factor"`
}

// DefaultBurnWindows are the Google SRE workbook's tiers for a 30-day SLO.
var DefaultBurnWindows = []BurnWindow{
	{Severity: "page", Long: "1h", Short: "5m", Factor: 14.4},
	{Severity: "page", Long: "6h", Short: "30m", Factor: 6},
	{Severity: "ticket", Long: "1d", Short: "2h", Factor: 3},
	{Severity: "ticket", Long: "3d", Short: "6h", Factor: 1},
}

// BurnWindows are the windows burn rates are computed over, shortest
// first.
var BurnWindows = []struct {
	Name string
	D    time.Duration
}{
	{"5m", 5 * time.Minute}, {"30m", 30 * time.Minute}, {"1h", time.Hour}, {"2h", 2 * time.Hour},
	{"6h", 6 * time.Hour}, {"1d", 24 * time.Hour}, {"3d", 72 * time.Hour},
}

// BurnWindowLength returns the length of the burn window name (zero if there
// is none).
func BurnWindowLength(name string) time.Duration {
	for _, w := range BurnWindows {
		if w.Name == name {
			return w.D
		}
	}
	return 0
}

var burnWindowNames = func() []string {
	var out []string
	for _, w := range BurnWindows {
		out = append(out, w.Name)
	}
	return out
}()

// Notifier returns the notifier with id, or nil.
func (a *Alerting) Notifier(id string) *Notifier {
	for i := range a.Notifiers {
		if a.Notifiers[i].ID == id {
			return &a.Notifiers[i]
		}
	}
	return nil
}

// Policy returns the policy with id, or nil.
func (a *Alerting) Policy(id string) *Policy {
	for i := range a.Policies {
		if a.Policies[i].ID == id {
			return &a.Policies[i]
		}
	}
	return nil
}

// RuleChecks returns the checks a rule covers.
func (c *Config) RuleChecks(r *Rule) []*Check {
	var out []*Check
	for _, comp := range c.Components {
		for i := range comp.Checks {
			ch := &comp.Checks[i]
			if (len(r.Checks) == 0 && len(r.Components) == 0) || slices.Contains(r.Checks, ch.ID) || slices.Contains(r.Components, comp.ID) {
				out = append(out, ch)
			}
		}
	}
	return out
}

func (a *Alerting) defaults(c *Config) {
	for i := range a.Rules {
		r := &a.Rules[i]
		if r.Severity == "" {
			r.Severity = map[string]string{RuleCheckDown: "critical", RuleSLOBurn: "critical", RuleCertExpiry: "warning",
				RuleProbeSilent: "warning", RuleRegionalDegraded: "warning", RuleDisagreement: "warning", RuleEvent: "warning"}[r.Kind]
		}
		if r.Urgency == "" {
			r.Urgency = "high"
			if r.Kind == RuleProbeSilent || r.Kind == RuleRegionalDegraded || r.Kind == RuleCertExpiry || r.Kind == RuleDisagreement || r.Kind == RuleEvent {
				r.Urgency = "low"
			}
		}
		if r.Kind == RuleSLOBurn && len(r.Windows) == 0 {
			r.Windows = DefaultBurnWindows
		}
		if (r.Kind == RuleRegionalDegraded || r.Kind == RuleDisagreement) && r.For == 0 {
			r.For = Duration(10 * time.Minute)
		}
		if r.Kind == RuleDisagreement && r.Factor == 0 {
			r.Factor = 2
		}
		if r.Kind == RuleEvent && r.Hold == 0 {
			r.Hold = Duration(DefaultEventHold)
		}
		if r.Kind == RuleCertExpiry && r.Days == 0 {
			r.Days = 14
		}
	}
}

func (v *validator) validateAlerting(c *Config, dir string) {
	a := &c.Alerting
	a.defaults(c)
	if a.DashboardURL != "" {
		if u, err := url.Parse(a.DashboardURL); err != nil || u.Host == "" {
			v.add("alerting.dashboard_url", "%q is not an absolute URL", model.RedactURL(a.DashboardURL, false))
		}
	}
	if d := a.Deadman; d != nil {
		if d.Every == 0 {
			d.Every = Duration(time.Minute)
		}
		if !httpURL(d.URL) {
			v.add("alerting.deadman.url", "%q is not an http(s) URL", model.RedactURL(d.URL, true))
		}
		if d.Every.D() < 10*time.Second {
			v.add("alerting.deadman.every", "%s is too often: 10s at least", d.Every.D())
		}
	}
	for i, l := range a.GroupBy {
		if !slices.Contains(GroupLabels, l) {
			v.add(fmt.Sprintf("alerting.group_by[%d]", i), "%q is not one of %s", l, strings.Join(GroupLabels, ", "))
		}
	}
	if w := a.GroupWait; w != nil && (w.D() < 0 || w.D() > 5*time.Minute) {
		v.add("alerting.group_wait", "%s is not between 0s and 5m: a page would wait that long", w.D())
	}
	if w := a.GroupInterval; w != nil && (w.D() < 0 || w.D() > time.Hour) {
		v.add("alerting.group_interval", "%s is not between 0s and 1h", w.D())
	}
	for i, t := range a.APITokens {
		if len(t) < 16 {
			v.add(fmt.Sprintf("alerting.api_tokens[%d]", i), "must be at least 16 characters")
		} else if Placeholder(t) {
			v.add(fmt.Sprintf("alerting.api_tokens[%d]", i), placeholderMsg)
		}
	}
	ids := map[string]bool{}
	for i := range a.Notifiers {
		v.validateNotifier(&a.Notifiers[i], fmt.Sprintf("alerting.notifiers[%d]", i), ids)
	}
	policies := map[string]bool{}
	for i := range a.Policies {
		pol := &a.Policies[i]
		p := fmt.Sprintf("alerting.policies[%d]", i)
		v.id(p+".id", "policy", pol.ID, policies)
		if len(pol.Levels) == 0 {
			v.add(p+".levels", "a policy needs at least one level")
		}
		if pol.Repeat < 0 {
			v.add(p+".repeat", "must not be negative")
		}
		for k, l := range pol.Levels {
			lp := fmt.Sprintf("%s.levels[%d]", p, k)
			if l.Delay < 0 {
				v.add(lp+".delay", "must not be negative")
			}
			if len(l.Targets) == 0 {
				v.add(lp+".targets", "a level needs at least one notifier")
			}
			for j, t := range l.Targets {
				if !ids[t] {
					v.add(fmt.Sprintf("%s.targets[%d]", lp, j), "unknown notifier %q", t)
				}
			}
		}
	}
	rules := map[string]bool{}
	for i := range a.Rules {
		r := &a.Rules[i]
		p := fmt.Sprintf("alerting.rules[%d]", i)
		v.id(p+".id", "rule", r.ID, rules)
		if r.ID == GroupRule {
			v.add(p+".id", "%q is reserved: the keys of alert groups begin with it", r.ID)
		}
		switch r.Kind {
		case RuleCheckDown, RuleCertExpiry, RuleRegionalDegraded, RuleProbeSilent, RuleSLOBurn:
		case RuleDisagreement:
			if r.Factor < 1 {
				v.add(p+".factor", "%v: real users fail when their bad share is at least what the target allows (1) or more", r.Factor)
			}
			for k, id := range r.SLOs {
				if s := c.SLO(id); s != nil && (s.SLI != SLIEvents || len(s.Checks) == 0) {
					v.add(fmt.Sprintf("%s.slos[%d]", p, k), "%q is not an events SLO with checks: there is nothing to compare", id)
				}
			}
		case RuleEvent:
			r.keyHash = v.urlKey(p, dir, &r.Key, r.KeyFile)
			if r.Hold.D() < time.Minute || r.Hold.D() > 7*24*time.Hour {
				v.add(p+".hold", "%s is not between 1m and 7d", r.Hold.D())
			}
			if len(r.Components) > 1 || len(r.Checks) > 0 || len(r.SLOs) > 0 {
				v.add(p+".components", "an event rule names at most one component (its alerts'), and no checks or SLOs")
			}
		default:
			v.add(p+".kind", "%q is not check_down, slo_burn, cert_expiry, probe_silent, regional_degraded, disagreement or event", r.Kind)
		}
		if r.Kind != RuleEvent && (r.Key != "" || r.KeyFile != "" || r.Hold != 0) {
			v.add(p+".key", "only an event rule has a key and a hold")
		}
		if !policies[r.Policy] {
			v.add(p+".policy", "unknown policy %q", r.Policy)
		}
		if r.TicketPolicy != "" && !policies[r.TicketPolicy] {
			v.add(p+".ticket_policy", "unknown policy %q", r.TicketPolicy)
		}
		switch r.Severity {
		case "critical", "error", "warning", "info":
		default:
			v.add(p+".severity", "%q is not critical, error, warning or info", r.Severity)
		}
		if r.Urgency != "high" && r.Urgency != "low" {
			v.add(p+".urgency", "%q is not high or low", r.Urgency)
		}
		for k, ch := range r.Checks {
			if c.Check(ch) == nil && v.sound("components") {
				v.add(fmt.Sprintf("%s.checks[%d]", p, k), "unknown check %q", ch)
			}
		}
		for k, comp := range r.Components {
			if !c.hasComponent(comp) && v.sound("components") {
				v.add(fmt.Sprintf("%s.components[%d]", p, k), "unknown component %q", comp)
			}
		}
		for k, s := range r.SLOs {
			if c.SLO(s) == nil && v.sound("slos") {
				v.add(fmt.Sprintf("%s.slos[%d]", p, k), "unknown SLO %q", s)
			}
		}
		for k, w := range r.Windows {
			wp := fmt.Sprintf("%s.windows[%d]", p, k)
			if w.Severity != "page" && w.Severity != "ticket" {
				v.add(wp+".severity", "%q is not page or ticket", w.Severity)
			}
			if !slices.Contains(burnWindowNames, w.Long) {
				v.add(wp+".long", "%q is not one of %v", w.Long, burnWindowNames)
			}
			if !slices.Contains(burnWindowNames, w.Short) {
				v.add(wp+".short", "%q is not one of %v", w.Short, burnWindowNames)
			}
			if w.Factor <= 0 {
				v.add(wp+".factor", "must be positive")
			}
		}
	}
	for i := range c.Components {
		for j := range c.Components[i].Checks {
			ch := &c.Components[i].Checks[j]
			for k, dep := range ch.DependsOn {
				if dep == ch.ID || c.Check(dep) == nil {
					v.add(fmt.Sprintf("components[%d].checks[%d].depends_on[%d]", i, j, k), "%q is not another check", dep)
				}
			}
		}
	}
}
