package harness

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/internal/testwait"
)

// The surfaces of one verdict: the status API, the status page (component
// status and region matrix), the badges, nines_check_status, and the
// alerts and incidents. Every scenario asks them the same question.

type apiStatus struct {
	Components []struct {
		ID     string `json:"id"`
		Checks []struct {
			ID      string `json:"id"`
			Status  string `json:"status"`
			Regions map[string]struct {
				Status string `json:"status"`
			} `json:"regions"`
		} `json:"checks"`
	} `json:"components"`
}

// pageWord is the Statuspage word for a component whose checks have these
// statuses.
func pageWord(statuses []string) string {
	down, degraded, known, maint := 0, 0, 0, 0
	for _, s := range statuses {
		switch s {
		case "down":
			down++
			known++
		case "degraded":
			degraded++
			known++
		case "up":
			known++
		case "maintenance":
			maint++
		}
	}
	switch {
	case down > 0 && down == len(statuses)-maint:
		return "major_outage"
	case down > 0:
		return "partial_outage"
	case maint > 0:
		return "under_maintenance"
	case degraded > 0:
		return "degraded_performance"
	case known == 0:
		return "no_data"
	}
	return "operational"
}

var statusRank = map[string]int{"unknown": 0, "maintenance": 1, "up": 2, "degraded": 3, "down": 4}

// openIncident finds the open incidents of the status page.
var openIncident = regexp.MustCompile(`<article class="incident" id="incident-\d+">\n<strong><a href="/incidents/\d+">[^<]*</a></strong> <span class="badge s-down">`)

// disagreements compares every surface with the status API at one moment;
// parents maps a check to the check it depends on (its incident folds into
// the parent's).
func disagreements(ctl string, parents map[string]string) ([]string, error) {
	base := "http://" + ctl
	var st apiStatus
	if err := GetJSON(base+"/api/v1/status", &st); err != nil {
		return nil, err
	}
	page, err := GetText(base + "/")
	if err != nil {
		return nil, err
	}
	metrics, err := GetText(base + "/metrics")
	if err != nil {
		return nil, err
	}
	var al AlertsDoc
	if err := GetJSON(base+"/api/v1/alerts", &al); err != nil {
		return nil, err
	}
	open := map[string]bool{}
	outages := 0 // open groups that hold a check's outage
	for _, a := range al.Alerts {
		if a.State == "firing" || a.State == "acknowledged" {
			open[a.Key] = true
			for _, m := range a.Members {
				if m.Class == "check_down" {
					outages++
					break
				}
			}
		}
	}
	var out []string
	// Every open group that holds a check's outage has one open incident
	// on the page, and no other incident is open.
	if n := len(openIncident.FindAllString(page, -1)); n != outages {
		out = append(out, fmt.Sprintf("%d open groups of outages, %d open incidents on the page", outages, n))
	}
	checkStatus := map[string]string{}
	for _, c := range st.Components {
		for _, ch := range c.Checks {
			checkStatus[ch.ID] = ch.Status
		}
	}
	for _, c := range st.Components {
		var statuses []string
		cells := map[string]string{}
		for _, ch := range c.Checks {
			statuses = append(statuses, ch.Status)
			for r, rv := range ch.Regions {
				if cur, ok := cells[r]; !ok || statusRank[rv.Status] > statusRank[cur] {
					cells[r] = rv.Status
				}
			}
			// The badge, and the metric, of the check.
			svg, err := GetText(base + "/badge/" + ch.ID + ".svg")
			if err != nil {
				return nil, err
			}
			if down := strings.Contains(svg, "· down"); down != (ch.Status == "down") {
				out = append(out, fmt.Sprintf("%s: API %s, badge says down=%v", ch.ID, ch.Status, down))
			}
			if maint := strings.Contains(svg, "· maintenance"); maint != (ch.Status == "maintenance") {
				out = append(out, fmt.Sprintf("%s: API %s, badge says maintenance=%v", ch.ID, ch.Status, maint))
			}
			if line := fmt.Sprintf(`nines_check_status{check=%q,status=%q} 1`, ch.ID, ch.Status); !strings.Contains(metrics, line) {
				out = append(out, fmt.Sprintf("%s: API %s, /metrics lacks %s", ch.ID, ch.Status, line))
			}
			// A confirmed outage has its alert (folded into a down parent's).
			folded := parents[ch.ID] != "" && checkStatus[parents[ch.ID]] == "down"
			if ch.Status == "down" && !folded && !open["down:"+ch.ID] {
				out = append(out, fmt.Sprintf("%s: API down, no open down:%s alert", ch.ID, ch.ID))
			}
			if ch.Status != "down" && open["down:"+ch.ID] {
				out = append(out, fmt.Sprintf("%s: API %s, down:%s still open", ch.ID, ch.Status, ch.ID))
			}
		}
		want := pageWord(statuses)
		re := regexp.MustCompile(`id="component-` + regexp.QuoteMeta(c.ID) + `"><header><strong>[^<]*</strong> <span class="badge s-[a-z_]+" data-status="([a-z_]+)"`)
		if m := re.FindStringSubmatch(page); m == nil || m[1] != want {
			out = append(out, fmt.Sprintf("component %s: checks %v, page says %v, want %s", c.ID, statuses, m, want))
		}
		row := regexp.MustCompile(`<tr data-component="` + regexp.QuoteMeta(c.ID) + `">.*</tr>`).FindString(page)
		for r, want := range cells {
			m := regexp.MustCompile(`class="badge s-([a-z_]+)" data-region="` + regexp.QuoteMeta(r) + `"`).FindStringSubmatch(row)
			if m == nil || m[1] != want {
				out = append(out, fmt.Sprintf("component %s in %s: API %s, page matrix %v", c.ID, r, want, m))
			}
		}
	}
	return out, nil
}

// SurfacesAgree waits until every surface says what the status API says.
func SurfacesAgree(t *testing.T, ctl, scenario string, parents map[string]string) {
	t.Helper()
	testwait.Eventually(t, 20*time.Second, scenario+": every surface agreeing", func() error {
		d, err := disagreements(ctl, parents)
		if err != nil {
			return err
		}
		if len(d) > 0 {
			return errors.New(strings.Join(d, "\n"))
		}
		return nil
	})
}

// PagesSince counts the page-urgency triggers delivered since since.
func PagesSince(t *testing.T, ctl string, since time.Time) int {
	t.Helper()
	var al AlertsDoc
	if err := GetJSON("http://"+ctl+"/api/v1/alerts", &al); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range al.Alerts {
		if a.Urgency != "high" {
			continue
		}
		var hist struct {
			Notifications []struct {
				Message struct {
					Action string    `json:"action"`
					At     time.Time `json:"at"`
					Update bool      `json:"update"`
				} `json:"message"`
				Delivered *time.Time `json:"delivered_at"`
			} `json:"notifications"`
		}
		if err := GetJSON("http://"+ctl+"/api/v1/alerts/"+a.Key, &hist); err != nil {
			t.Fatal(err)
		}
		for _, nt := range hist.Notifications {
			if nt.Message.Action == "trigger" && !nt.Message.Update && nt.Delivered != nil && !nt.Message.At.Before(since) {
				n++
			}
		}
	}
	return n
}
