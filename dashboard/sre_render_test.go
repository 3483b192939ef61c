package dashboard

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// The SRE view says an alert's state as it is: pending is no verdict yet
// (no green tick), one that resolved without ever firing was dropped;
// details read as text and JSON, never Go's map syntax; the alert's own
// firing number is not confused with the public incident's, which is
// linked.
func TestSREViewWordsAlertsPlainly(t *testing.T) {
	fired := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)
	render := func(name string, data any) string {
		t.Helper()
		var b bytes.Buffer
		if err := templates.ExecuteTemplate(&b, name, data); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	page := &SREPage{Alerts: []Alert{{Key: "down:api", State: "pending"}, {Key: "down:cdn", State: "resolved"},
		{Key: "down:web", State: "resolved", FiredAt: &fired}}}
	sre := render("sre", map[string]any{"Page": page, "User": "alice", "CSRF": "x"})
	for key, want := range map[string]string{"down:api": `s-unknown" data-state="pending">pending<`, "down:cdn": `s-unknown" data-state="resolved">dropped<`,
		"down:web": `s-up" data-state="resolved">resolved<`} {
		row := sre[strings.Index(sre, `data-key="`+key+`"`):]
		row = row[:strings.Index(row, "</tr>")]
		if !strings.Contains(row, want) {
			t.Errorf("%s: %s, want %s", key, row, want)
		}
	}
	ap := &AlertPage{Alert: Alert{Key: "down:api", State: "firing", FiredAt: &fired}, Incident: 3, PublicIncident: 12,
		Details: map[string]any{"regions": []any{"eu-london", "ap-tokyo"}, "edge": map[string]any{"pop": "FRA", "age": 3.0}, "failing": 2.0}}
	alert := render("alert", map[string]any{"Page": ap, "User": "alice", "CSRF": "x"})
	for _, want := range []string{"<td>eu-london, ap-tokyo</td>", `<td>{&#34;age&#34;:3,&#34;pop&#34;:&#34;FRA&#34;}</td>`, "<td>2</td>",
		`the alert's firing 3`, `public incident <a href="/incidents/12">#12</a>`} {
		if !strings.Contains(alert, want) {
			t.Errorf("the alert page lacks %s", want)
		}
	}
	if strings.Contains(alert, "map[") {
		t.Error("the alert page prints Go's map syntax")
	}
}
