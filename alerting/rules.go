package alerting

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/model"
)

// Snapshot is what rules look at: the controller's view at one instant.
type Snapshot struct {
	Now     time.Time
	Checks  map[string]CheckState
	Regions map[string]RegionState
	SLOs    map[string]SLOState
	// Open holds the keys of the alerts open now (pending, firing or
	// acknowledged), so a rule can keep what it raised.
	Open map[string]bool
	// Paging names, for each check with a check_down alert firing now
	// whose condition holds, that alert's key; PagedUntil is
	// when each check's last such alert stopped holding (now while it
	// holds). A burn of an SLO whose checks page is explained by them.
	Paging     map[string]string
	PagedUntil map[string]time.Time
	// Events are what systems told of event rules' keys, those whose
	// last trigger is within the longest hold.
	Events []Event
}

// CheckState is one check's live verdict.
type CheckState struct {
	Status      model.Status
	Failing     []string                    // regions whose newest result is down
	Classes     map[string]model.ErrorClass // region → error class
	Messages    map[string]string           // region → message
	CertDays    *int                        // fewest days left seen in any region
	Maintenance bool
	// LastFailure is when the newest of the failing regions' results was
	// scheduled; LastDown the last time the check's verdict was down,
	// LastUp up, and LastNotUp down or degraded.
	LastFailure, LastDown time.Time
	LastUp, LastNotUp     time.Time
	// FailedAt is when each failing region's result was scheduled;
	// Passing counts the healthy regions whose fresh result is up, and
	// Quorum is how many failing regions confirm the check down.
	FailedAt map[string]time.Time
	Passing  int
	Quorum   int
}

// RegionState is one region's probe health.
type RegionState struct {
	Healthy bool
	Probes  int
}

// SLOState holds an SLO's burn rates by window name.
type SLOState struct {
	Burn map[string]float64
	// An events SLI's good and valid events over the last five minutes
	// (nil for other SLIs).
	Recent *RecentEvents
}

// RecentEvents are an events SLI's counts over the last five minutes.
type RecentEvents struct {
	Good, Valid int
}

// Condition is a rule's finding about one subject at one instant.
type Condition struct {
	Key       string
	Rule      *config.Rule
	Policy    string
	Subject   string
	Severity  string
	Urgency   string
	Summary   string
	Component string
	Class     string
	Details   map[string]any
	// Region is the region a regional or silence alert is about.
	Region string
	// Failing are the regions failing now, of Regions (a check's alert).
	Failing []string
	Regions int
	// Heartbeat marks the alert of a push check.
	Heartbeat bool
	// Cause is the open alert this one is explained by: a burn of an SLO
	// whose checks page joins that alert's group rather than paging anew.
	Cause string
}

// Topology is what the rules know of the monitored system: which checks a
// rule covers, where each runs and which component it belongs to, the
// regions and the SLOs. *config.Config is one.
type Topology interface {
	RuleChecks(r *config.Rule) []*config.Check
	CheckRegions(ch *config.Check) []string
	ComponentOf(check string) string
	RegionIDs() []string
	SLO(id string) *config.SLO
}

// Setup is the part of the configuration alerting works from: its own
// section (rules, policies, notifiers) and the topology.
type Setup struct {
	Alerting *config.Alerting
	Topology Topology
}

// Evaluate applies every rule to the snapshot and returns the conditions
// that hold, by alert key. A check under maintenance raises nothing; a
// check whose dependency is down folds into that check's condition.
func Evaluate(set Setup, s Snapshot) map[string]Condition {
	out := map[string]Condition{}
	topo := set.Topology
	for i := range set.Alerting.Rules {
		r := &set.Alerting.Rules[i]
		switch r.Kind {
		case config.RuleCheckDown:
			checkDown(topo, r, s, out)
		case config.RuleRegionalDegraded:
			regionalDegraded(topo, r, s, out)
		case config.RuleCertExpiry:
			certExpiry(topo, r, s, out)
		case config.RuleProbeSilent:
			probeSilent(topo, r, s, out)
		case config.RuleSLOBurn:
			sloBurn(topo, r, s, out)
		case config.RuleDisagreement:
			disagreement(topo, r, s, out)
		case config.RuleEvent:
			events(r, s, out)
		}
	}
	return out
}

func key(rule, subject string) string { return rule + ":" + subject }

// soleComponent is the component of checks when they all belong to one
// ("" when they span several): an SLO's alert is that component's.
func soleComponent(topo Topology, checks []string) string {
	comp := ""
	for i, ch := range checks {
		if c := topo.ComponentOf(ch); i == 0 {
			comp = c
		} else if c != comp {
			return ""
		}
	}
	return comp
}

func regionDetails(cs CheckState) map[string]any {
	classes := map[string]string{}
	for r, c := range cs.Classes {
		classes[r] = string(c)
	}
	return map[string]any{"failing_regions": cs.Failing, "error_classes": classes, "messages": cs.Messages}
}

func checkDown(topo Topology, r *config.Rule, s Snapshot, out map[string]Condition) {
	checks := topo.RuleChecks(r)
	down := map[string]bool{}
	for _, ch := range checks {
		if cs := s.Checks[ch.ID]; cs.Status == model.StatusDown && !cs.Maintenance {
			down[ch.ID] = true
		}
	}
	folded := map[string][]string{}
	for _, ch := range checks {
		if !down[ch.ID] {
			continue
		}
		cs := s.Checks[ch.ID]
		if parent := firstDown(ch.DependsOn, s); parent != "" {
			folded[parent] = append(folded[parent], ch.ID)
			continue
		}
		if failedWithParent(ch.DependsOn, cs, s) {
			continue // its failures date from the parent's outage: wait for fresh results
		}
		d := regionDetails(cs)
		d["check"] = ch.ID
		summary := fmt.Sprintf("%s is down: failing in %d of %d regions (%s)", ch.Name, len(cs.Failing), len(topo.CheckRegions(ch)),
			strings.Join(cs.Failing, ", "))
		if ch.Heartbeat != nil {
			summary = fmt.Sprintf("%s is down: %s", ch.Name, cs.Messages[model.PushRegion])
		}
		out[key(r.ID, ch.ID)] = Condition{Key: key(r.ID, ch.ID), Rule: r, Policy: r.Policy, Subject: ch.ID, Severity: r.Severity, Urgency: r.Urgency,
			Summary: summary, Component: topo.ComponentOf(ch.ID), Class: "check_down", Details: d,
			Failing: cs.Failing, Regions: len(topo.CheckRegions(ch)), Heartbeat: ch.Heartbeat != nil}
	}
	for parent, children := range folded {
		k := key(r.ID, parent)
		if c, ok := out[k]; ok {
			sort.Strings(children)
			c.Details["also_down"] = children
			c.Summary += "; also down: " + strings.Join(children, ", ")
			out[k] = c
		}
	}
}

// failedWithParent reports whether every failure a check shows now was
// scheduled while one of its dependencies was down: a parent that recovers
// a few seconds before its child's next run leaves the child down on old
// results, which are the parent's outage, not a new one.
func failedWithParent(deps []string, cs CheckState, s Snapshot) bool {
	if cs.LastFailure.IsZero() {
		return false
	}
	for _, d := range deps {
		if p := s.Checks[d]; !p.LastDown.IsZero() && !cs.LastFailure.After(p.LastDown) {
			return true
		}
	}
	return false
}

// firstDown returns the first of deps that is down, directly or through
// its own dependencies.
func firstDown(deps []string, s Snapshot) string {
	for _, d := range deps {
		if s.Checks[d].Status == model.StatusDown {
			return d
		}
	}
	return ""
}

// regionalDegraded raises one ticket per region for the checks that fail
// there alone: a regional fault (the region's network, its CDN edge) is
// one problem, however many checks it touches. A ticket says "fails from
// this region only", so it counts a check only while that is true: the
// check is degraded, not down (a check that goes down by quorum leaves
// the ticket); at least a quorum of other regions pass it now (not while
// their views are unknown, after a restart say); and the region's failure
// was seen after the check was last down (a region that recovers last
// from an outage is not a regional fault).
func regionalDegraded(topo Topology, r *config.Rule, s Snapshot, out map[string]Condition) {
	byRegion := map[string][]string{}
	classes := map[string]map[string]string{}
	for _, ch := range topo.RuleChecks(r) {
		cs := s.Checks[ch.ID]
		if cs.Maintenance || cs.Status != model.StatusDegraded || cs.Passing < max(cs.Quorum, 1) {
			continue
		}
		for _, region := range cs.Failing {
			if !cs.LastDown.IsZero() && !cs.FailedAt[region].After(cs.LastDown) {
				continue
			}
			byRegion[region] = append(byRegion[region], ch.ID)
			if classes[region] == nil {
				classes[region] = map[string]string{}
			}
			classes[region][ch.ID] = string(cs.Classes[region])
		}
	}
	for region, checks := range byRegion {
		sort.Strings(checks)
		c := Condition{Key: key(r.ID, region), Rule: r, Policy: r.Policy, Subject: region, Severity: r.Severity, Urgency: r.Urgency,
			Summary: fmt.Sprintf("%s: %d check(s) fail from this region only: %s", region, len(checks), strings.Join(checks, ", ")),
			Class:   "regional_degraded", Region: region, Details: map[string]any{"region": region, "checks": checks, "error_classes": classes[region]}}
		if len(checks) == 1 {
			c.Component = topo.ComponentOf(checks[0])
		}
		out[c.Key] = c
	}
}

func certExpiry(topo Topology, r *config.Rule, s Snapshot, out map[string]Condition) {
	for _, ch := range topo.RuleChecks(r) {
		cs := s.Checks[ch.ID]
		if cs.CertDays == nil || *cs.CertDays >= r.Days || cs.Maintenance {
			continue
		}
		out[key(r.ID, ch.ID)] = Condition{Key: key(r.ID, ch.ID), Rule: r, Policy: r.Policy, Subject: ch.ID, Severity: r.Severity, Urgency: r.Urgency,
			Summary:   fmt.Sprintf("certificate of %s expires in %d days", ch.Name, *cs.CertDays),
			Component: topo.ComponentOf(ch.ID), Class: "cert_expiry", Details: map[string]any{"check": ch.ID, "days_left": *cs.CertDays}}
	}
}

// BlindSubject is the subject of the alert raised when most regions are
// silent at once.
const BlindSubject = "most-regions"

// probeSilent raises a notice per silent region, at the rule's (low)
// urgency; when most regions are silent at once the monitoring itself is
// blind, which is an alert of its own, critical and urgent.
func probeSilent(topo Topology, r *config.Rule, s Snapshot, out map[string]Condition) {
	var silent []string
	regions := topo.RegionIDs()
	for _, reg := range regions {
		if !s.Regions[reg].Healthy {
			silent = append(silent, reg)
		}
	}
	for _, region := range silent {
		c := Condition{Key: key(r.ID, region), Rule: r, Policy: r.Policy, Subject: region, Severity: r.Severity, Urgency: r.Urgency,
			Summary: fmt.Sprintf("probes of %s are silent: its checks are not seen from there", region),
			Class:   "probe_silent", Region: region, Details: map[string]any{"region": region, "silent_regions": silent}}
		out[c.Key] = c
	}
	if len(silent)*2 > len(regions) {
		c := Condition{Key: key(r.ID, BlindSubject), Rule: r, Policy: r.Policy, Subject: BlindSubject, Severity: "critical", Urgency: "high",
			Summary: fmt.Sprintf("%d of %d regions are silent: monitoring is blind", len(silent), len(regions)),
			Class:   "monitoring_blind", Details: map[string]any{"silent_regions": silent}}
		out[c.Key] = c
	}
}

// minuteLag is how long after an outage ends a burn window may still hold
// its last minute: windows count whole minutes, the minute an outage ends
// in may be charged, and it is judged once it has closed.
const minuteLag = 2 * time.Minute

// sloBurn fires per SLO and tier severity when both windows of any tier
// burn faster than its factor; a firing page mutes the ticket.
//
// A burn adds information only when nothing already says it. While a
// check the SLO counts pages (Snapshot.Paging), the burn is that
// outage's: it names the alert as its Cause and joins its group. After
// the checks recover, a tier holds only once its short window no longer
// reaches back into the outage (minuteLag included), or when the fastest
// window, clear of it, burns faster than the tier's factor: an outage
// spends the budget once, and its aftermath in the longer windows pages
// no one.
func sloBurn(topo Topology, r *config.Rule, s Snapshot, out map[string]Condition) {
	fastest := ""
	for _, w := range r.Windows {
		if fastest == "" || config.BurnWindowLength(w.Short) < config.BurnWindowLength(fastest) {
			fastest = w.Short
		}
	}
	for id, st := range s.SLOs {
		slo := topo.SLO(id)
		if slo == nil || len(r.SLOs) > 0 && !slices.Contains(r.SLOs, slo.ID) {
			continue
		}
		cause, ended := "", time.Time{}
		for _, ch := range slo.Checks {
			if k := s.Paging[ch]; k != "" && (cause == "" || k < cause) {
				cause = k
			}
			if t := s.PagedUntil[ch]; t.After(ended) {
				ended = t
			}
		}
		since := s.Now.Sub(ended)
		outside := func(w *config.BurnWindow) bool {
			return cause != "" || ended.IsZero() || since >= config.BurnWindowLength(w.Short)+minuteLag ||
				since >= config.BurnWindowLength(fastest)+minuteLag && st.Burn[fastest] > w.Factor
		}
		var page, ticket *config.BurnWindow
		for i := range r.Windows {
			w := &r.Windows[i]
			if st.Burn[w.Long] > w.Factor && st.Burn[w.Short] > w.Factor && outside(w) {
				if w.Severity == "page" && page == nil {
					page = w
				} else if w.Severity == "ticket" && ticket == nil {
					ticket = w
				}
			}
		}
		tier, policy, urgency, severity := page, r.Policy, r.Urgency, r.Severity
		if page == nil {
			if ticket == nil {
				continue
			}
			tier, policy, urgency, severity = ticket, r.TicketPolicy, "low", "warning"
			if policy == "" {
				policy = r.Policy
			}
		}
		subject := slo.ID + "/" + tier.Severity
		c := Condition{Key: key(r.ID, subject), Rule: r, Policy: policy, Subject: subject, Severity: severity, Urgency: urgency,
			Summary: fmt.Sprintf("%s burns its error budget at %.1f× over %s and %.1f× over %s", slo.Name, st.Burn[tier.Long], tier.Long,
				st.Burn[tier.Short], tier.Short),
			Class: "slo_burn", Cause: cause, Component: soleComponent(topo, slo.Checks),
			Details: map[string]any{"slo": slo.ID, "burn_rates": st.Burn, "tier": tier}}
		if cause != "" {
			c.Details["explained_by"] = cause
		}
		out[c.Key] = c
	}
}
