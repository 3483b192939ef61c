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

// realUsersSpan is how far back real users' recent counts reach: five
// closed minutes, the newest up to a minute and a push behind.
const realUsersSpan = 7 * time.Minute

// disagreement holds, for each events SLO with checks (those r.SLOs
// names, or all), while its real users and the probes of its checks
// disagree over the last five minutes: every check up while real users'
// bad share is over r.Factor times what the target allows, or a check
// down or degraded while real users are served within the target. A
// check under maintenance, or no real traffic, leaves nothing to compare.
func disagreement(topo Topology, r *config.Rule, s Snapshot, out map[string]Condition) {
	for id, st := range s.SLOs {
		slo := topo.SLO(id)
		if slo == nil || slo.SLI != config.SLIEvents || len(slo.Checks) == 0 || st.Recent == nil || st.Recent.Valid == 0 ||
			len(r.SLOs) > 0 && !slices.Contains(r.SLOs, slo.ID) {
			continue
		}
		// Real users' counts are of closed minutes over the last five: a
		// side compares only while the probes have said the same for all
		// of that (steadily up, or failing throughout).
		steady := s.Now.Add(-realUsersSpan)
		var failing []string
		compare, upThroughout, failingThroughout := true, true, true
		for _, ch := range slo.Checks {
			cs, ok := s.Checks[ch]
			if !ok || cs.Maintenance || cs.Status == model.StatusUnknown {
				compare = false
				break
			}
			if cs.Status == model.StatusDown || cs.Status == model.StatusDegraded {
				failing = append(failing, fmt.Sprintf("%s %s", ch, cs.Status))
			}
			if cs.Status == model.StatusUp {
				upThroughout = upThroughout && !cs.LastNotUp.After(steady)
			} else {
				upThroughout, failingThroughout = false, failingThroughout && !cs.LastUp.After(steady)
			}
		}
		if !compare {
			continue
		}
		sort.Strings(failing)
		allowed := 1 - slo.Ratio()
		bad := float64(st.Recent.Valid-st.Recent.Good) / float64(st.Recent.Valid)
		var side, summary string
		switch {
		case upThroughout && bad > r.Factor*allowed:
			side = "real_users_failing"
			summary = fmt.Sprintf("%s: the probes say up, but %.1f %% of real users' events failed over 5m (%d of %d; the target allows %.2g %%)",
				slo.Name, 100*bad, st.Recent.Valid-st.Recent.Good, st.Recent.Valid, 100*allowed)
		case len(failing) > 0 && failingThroughout && bad <= allowed:
			side = "probes_failing"
			summary = fmt.Sprintf("%s: the probes say %s, but real users are served: %.2f %% of their events good over 5m (%d of %d)",
				slo.Name, strings.Join(failing, ", "), 100*(1-bad), st.Recent.Good, st.Recent.Valid)
		default:
			continue
		}
		c := Condition{Key: key(r.ID, slo.ID), Rule: r, Policy: r.Policy, Subject: slo.ID, Severity: r.Severity, Urgency: r.Urgency,
			Summary: summary, Class: "disagreement", Component: soleComponent(topo, slo.Checks),
			Details: map[string]any{"slo": slo.ID, "side": side, "real_bad_share": bad, "allowed_bad_share": allowed,
				"real_good": st.Recent.Good, "real_valid": st.Recent.Valid, "checks_failing": failing}}
		out[c.Key] = c
	}
}
