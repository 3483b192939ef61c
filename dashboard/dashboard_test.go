package dashboard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

type fakeSource struct {
	acked   []string
	updates []string
	page    *StatusPage
	shotAt  time.Time
	vitals  *Vitals
}

func (f *fakeSource) StatusPage(context.Context) (*StatusPage, error) { return f.page, nil }
func (f *fakeSource) SREPage(context.Context) (*SREPage, error) {
	v, newest := 0.985, time.Date(2026, 12, 6, 10, 4, 0, 0, time.UTC)
	return &SREPage{Alerts: []Alert{{Key: "down:api", State: "firing", Severity: "critical", Urgency: "high", Summary: "api is down"}},
		Incidents: []Incident{{ID: 7, Title: "api is down", Status: "investigating"}},
		SLOs: []SLO{{ID: "renders", Name: "Renders", SLI: &v, Target: 99, Unit: "events", Total: 600, Remaining: -300,
			RealUsers: &RealUsers{Source: "push", Good: 59100, Valid: 60000, Newest: &newest, Beside: []CheckRow{{ID: "app-page", Status: "up"}},
				Recent: &Counted{Good: 480, Valid: 500}, Disagreement: "firing: Renders: the probes say up, but 4.0 % of real users' events failed over 5m"}}}}, nil
}
func (f *fakeSource) CheckPage(_ context.Context, id string, _ CheckQuery) (*CheckPage, error) {
	if id != "api" {
		return nil, errors.New("no check " + id)
	}
	var shots []Screenshot
	if !f.shotAt.IsZero() {
		shots = []Screenshot{{At: f.shotAt, Region: "eu-london", Message: "step 2 (expect_text): h1 says \"Globex\""}}
	}
	return &CheckPage{ID: "api", Name: "API", Status: "up", Latency: []RegionLatency{{Region: "eu-london",
		Points: []Percentile{{At: time.Unix(0, 0), P50: 10, P95: 20, P99: 30}, {At: time.Unix(3600, 0), P50: 12, P95: 25, P99: 40}}}},
		Screenshots: shots, Vitals: f.vitals}, nil
}
func (f *fakeSource) Badge(_ context.Context, check string) (*float64, string, bool) {
	u := 0.99951
	return &u, "up", check == "api"
}
func (f *fakeSource) AlertPage(_ context.Context, key string) (*AlertPage, error) {
	if key != "burn:avail/page" {
		return nil, nil
	}
	return &AlertPage{Alert: Alert{Key: key, State: "firing", Summary: "avail burns its budget"},
		Notifications: []NotificationLine{{Notifier: "pd", Action: "trigger", Attempts: 2, LastError: "PagerDuty answered HTTP 502"}}}, nil
}

func (f *fakeSource) Acknowledge(_ context.Context, key, by string) error {
	f.acked = append(f.acked, key+" by "+by)
	return nil
}

// sampleIncident is incident 7 of sampleHistory: opened, updated,
// resolved after 42 minutes.
func sampleIncident() Incident {
	t0 := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	done := t0.Add(42 * time.Minute)
	return Incident{ID: 7, Component: "api", Title: "API errors", Status: "resolved", Impact: "major", StartedAt: t0, UpdatedAt: done, ResolvedAt: &done,
		Updates: []IncidentUpdate{{At: done, Status: "resolved", Body: "Recovered & <fixed>"}, {At: t0.Add(10 * time.Minute), Status: "identified", Body: "A bad deploy"},
			{At: t0, Status: "investigating", Body: "Errors in 3 of 3 regions"}}}
}

func sampleHistory() *HistoryPage {
	u := 0.9991
	nov := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	start := time.Date(2026, 12, 10, 2, 0, 0, 0, time.UTC)
	return &HistoryPage{Title: "Example", GeneratedAt: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC),
		Months: []HistoryMonth{
			{Month: nov.AddDate(0, 1, 0), Incidents: []Incident{}, Uptime: []MonthUptime{{Component: "api", Name: "API"}}},
			{Month: nov, Incidents: []Incident{sampleIncident()}, Uptime: []MonthUptime{{Component: "api", Name: "API", Uptime: &u}},
				Maintenance: []Announced{{ID: "db-1762000000", Name: "Database upgrade", Status: "completed", Start: nov.AddDate(0, 0, 5), End: nov.AddDate(0, 0, 5).Add(time.Hour), Components: []string{"API"}}}},
		},
		Ahead: []Announced{{ID: "db-1765332000", Name: "Database upgrade", Status: "scheduled", Start: start, End: start.Add(time.Hour), Components: []string{"API"},
			AnnouncedAt: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}}}
}

func (f *fakeSource) History(context.Context) (*HistoryPage, error) { return sampleHistory(), nil }

func (f *fakeSource) Incident(_ context.Context, id int64) (*Incident, error) {
	if id != 7 {
		return nil, nil
	}
	in := sampleIncident()
	return &in, nil
}

func (f *fakeSource) Screenshot(_ context.Context, check, region string, scheduled time.Time) ([]byte, error) {
	if check == "api" && region == "eu-london" && scheduled.Equal(f.shotAt) {
		return []byte{0xff, 0xd8, 0xff, 0xe0}, nil
	}
	return nil, nil
}

func (f *fakeSource) Maintenance(_ context.Context, id string) (*Incident, error) {
	if id != "db-1" {
		return nil, nil
	}
	at := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	return &Incident{Title: "Database upgrade", Status: "scheduled", Impact: "maintenance", StartedAt: at, UpdatedAt: at.Add(-72 * time.Hour),
		Updates: []IncidentUpdate{{At: at.Add(-72 * time.Hour), Status: "scheduled", Body: "Database upgrade is scheduled."}}}, nil
}

func (f *fakeSource) UpdateIncident(_ context.Context, id int64, status, body, by string) error {
	f.updates = append(f.updates, fmt.Sprintf("%d %s %s %s", id, status, body, by))
	return nil
}

func (f *fakeSource) EditIncident(_ context.Context, id int64, title, impact, by string) error {
	f.updates = append(f.updates, fmt.Sprintf("%d edit %s %s %s", id, title, impact, by))
	return nil
}

func newTestServer(t *testing.T) (*httptest.Server, *fakeSource) {
	t.Helper()
	hash, _ := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	src := &fakeSource{page: samplePage(3, 90)}
	s := New(Options{Source: src, Users: func() []User { return []User{{Name: "alice", PasswordHash: string(hash)}} },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv, src
}

func noRedirect(jar http.CookieJar) *http.Client {
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := csrfField.FindSubmatch(b)
	if m == nil {
		t.Fatalf("no CSRF token on %s:\n%s", url, b)
	}
	return string(m[1])
}

func TestSREViewNeedsLoginAndCSRF(t *testing.T) {
	srv, src := newTestServer(t)
	anon := noRedirect(nil)
	resp, _ := anon.Get(srv.URL + "/sre")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/sre/login?next=%2Fsre" {
		t.Fatalf("anonymous SRE view: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = anon.PostForm(srv.URL+"/sre/alerts/ack", url.Values{"csrf": {"x"}, "key": {"down:api"}})
	if resp.StatusCode != http.StatusUnauthorized || len(src.acked) != 0 {
		t.Fatalf("anonymous ack: %d", resp.StatusCode)
	}

	jar, _ := cookiejar.New(nil)
	c := noRedirect(jar)
	// A sign-in without the form's token is refused (login CSRF).
	resp, _ = c.PostForm(srv.URL+"/sre/login", url.Values{"user": {"alice"}, "password": {"correct horse"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("sign-in without its token: %d", resp.StatusCode)
	}
	tok := csrfOf(t, c, srv.URL+"/sre/login")
	resp, _ = c.PostForm(srv.URL+"/sre/login", url.Values{"csrf": {tok}, "user": {"alice"}, "password": {"wrong"}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	tok = csrfOf(t, c, srv.URL+"/sre/login")
	resp, _ = c.PostForm(srv.URL+"/sre/login", url.Values{"csrf": {tok}, "user": {"alice"}, "password": {"correct horse"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	sessionCSRF := csrfOf(t, c, srv.URL+"/sre")
	// A request-based SLO: real users' counts beside the checks of the
	// same service.
	resp, _ = c.Get(srv.URL + "/sre")
	if b, _ := io.ReadAll(resp.Body); !strings.Contains(string(b), `Over the last 5 minutes: 96.00 % of real users' events good (480 of 500)`) ||
		!strings.Contains(string(b), `Real users and the probes disagree: firing: Renders: the probes say up, but 4.0 % of real users&#39; events failed over 5m`) ||
		!strings.Contains(string(b), `Real users (push): 59100 good of 60000 events, counted to 2026-12-06 10:04 UTC · beside the checks of the same service: <a href="/sre/checks/app-page">app-page</a> <span class="badge s-up">`) {
		t.Fatalf("the SRE page lacks the real users' counts:\n%s", b)
	}
	resp, _ = c.PostForm(srv.URL+"/sre/alerts/ack", url.Values{"key": {"down:api"}})
	if resp.StatusCode != http.StatusForbidden || len(src.acked) != 0 {
		t.Fatalf("ack without the CSRF token: %d", resp.StatusCode)
	}
	resp, _ = c.PostForm(srv.URL+"/sre/alerts/ack", url.Values{"csrf": {"forged"}, "key": {"down:api"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("ack with a forged token: %d", resp.StatusCode)
	}
	resp, _ = c.PostForm(srv.URL+"/sre/alerts/ack", url.Values{"csrf": {sessionCSRF}, "key": {"down:api"}})
	if resp.StatusCode != http.StatusSeeOther || len(src.acked) != 1 || src.acked[0] != "down:api by alice" {
		t.Fatalf("ack: %d %v", resp.StatusCode, src.acked)
	}
	// A key with a slash: acknowledged from its own page, which every
	// notification links to.
	resp, _ = c.PostForm(srv.URL+"/sre/alerts/ack", url.Values{"csrf": {sessionCSRF}, "key": {"burn:avail/page"}, "back": {"alert"}})
	if resp.StatusCode != http.StatusSeeOther || src.acked[1] != "burn:avail/page by alice" || resp.Header.Get("Location") != "/sre/alerts/burn:avail/page" {
		t.Fatalf("ack of burn:avail/page: %d %v %s", resp.StatusCode, src.acked, resp.Header.Get("Location"))
	}
	resp, _ = c.Get(srv.URL + "/sre/alerts/burn:avail/page")
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || !strings.Contains(string(b), "avail burns its budget") || !strings.Contains(string(b), "HTTP 502") {
		t.Fatalf("alert page: %d %s", resp.StatusCode, b)
	}
	if resp, _ = c.Get(srv.URL + "/sre/alerts/down:nothing"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown alert page: %d", resp.StatusCode)
	}
	if resp, _ = anon.Get(srv.URL + "/alerts/burn:avail/page"); resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/sre/alerts/burn:avail/page" {
		t.Fatalf("old alert link: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = c.PostForm(srv.URL+"/sre/incidents/7/updates", url.Values{"csrf": {sessionCSRF}, "status": {"fixed"}, "body": {"x"}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad incident status: %d", resp.StatusCode)
	}
	resp, _ = c.PostForm(srv.URL+"/sre/incidents/7/updates", url.Values{"csrf": {sessionCSRF}, "status": {"identified"}, "body": {"a bad deploy"}})
	if resp.StatusCode != http.StatusSeeOther || len(src.updates) != 1 || src.updates[0] != "7 identified a bad deploy alice" {
		t.Fatalf("incident update: %d %v", resp.StatusCode, src.updates)
	}
	for _, bad := range []url.Values{{"title": {""}, "impact": {"major"}}, {"title": {"x"}, "impact": {"dire"}}, {"title": {strings.Repeat("x", 201)}, "impact": {"minor"}}} {
		bad.Set("csrf", sessionCSRF)
		if resp, _ = c.PostForm(srv.URL+"/sre/incidents/7/edit", bad); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("bad incident edit %v: %d", bad, resp.StatusCode)
		}
	}
	resp, _ = c.PostForm(srv.URL+"/sre/incidents/7/edit", url.Values{"csrf": {sessionCSRF}, "title": {"Content delivery slow in Europe"}, "impact": {"minor"}})
	if resp.StatusCode != http.StatusSeeOther || len(src.updates) != 2 || src.updates[1] != "7 edit Content delivery slow in Europe minor alice" {
		t.Fatalf("incident edit: %d %v", resp.StatusCode, src.updates)
	}
	resp, _ = c.Get(srv.URL + "/sre/checks/api")
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || !strings.Contains(string(b), "<polyline") {
		t.Fatalf("check page: %d", resp.StatusCode)
	}
	// A failed browser run's screenshot: on the check page, and served to
	// signed-in SREs only.
	src.shotAt = time.UnixMilli(1764936000123).UTC()
	lcp, cls, ttfb := 3100.0, 0.02, 1900.0
	src.vitals = &Vitals{Regions: []RegionVitals{{Region: "eu-london", Runs: 12, P75: []*float64{&lcp, &cls, nil, &ttfb}}},
		Charts: []VitalChart{{Vital: VitalFigures[0], Series: []VitalSeries{{Region: "eu-london", Points: []VitalPoint{{At: src.shotAt, P75: lcp}}}}}}}
	shot := fmt.Sprintf("/sre/checks/api/screenshots/eu-london/%d.jpg", src.shotAt.UnixMilli())
	resp, _ = c.Get(srv.URL + "/sre/checks/api")
	if b, _ := io.ReadAll(resp.Body); !strings.Contains(string(b), `<img src="`+shot+`"`) || !strings.Contains(string(b), "h1 says &#34;Globex&#34;") {
		t.Fatalf("the check page shows no screenshot:\n%s", b)
	}
	// A browser check's page figures, rated; one never measured is a dash.
	resp, _ = c.Get(srv.URL + "/sre/checks/api")
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`<td class="num v-needs-improvement" data-figure="lcp" title="needs-improvement (good up to 2500 ms, poor above 4000 ms)">3100 ms</td>`,
		`<td class="num v-good" data-figure="cls" title="good (good up to 0.100, poor above 0.250)">0.020</td>`,
		`<td class="num muted" title="no run measured it">–</td>`, `data-figure="ttfb" title="poor`, `<svg class="chart vital" data-figure="lcp"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the check page lacks %s", want)
		}
	}
	if strings.Contains(string(b), `data-figure="inp" viewBox`) {
		t.Error("a chart of a figure no region measured")
	}
	resp, _ = c.Get(srv.URL + shot)
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" || len(b) != 4 {
		t.Fatalf("screenshot: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ = c.Get(srv.URL + "/sre/checks/api/screenshots/eu-london/1.jpg"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a screenshot not kept: %d", resp.StatusCode)
	}
	if resp, _ = anon.Get(srv.URL + shot); resp.StatusCode == http.StatusOK {
		t.Fatal("a screenshot served without sign-in")
	}
	if resp, err := c.PostForm(srv.URL+"/sre/logout", url.Values{"csrf": {sessionCSRF}}); err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %v %v", resp, err)
	}
	resp, _ = c.Get(srv.URL + "/sre")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after sign-out: %d", resp.StatusCode)
	}
}

func TestStatusPageWorksWithoutJavaScript(t *testing.T) {
	srv, _ := newTestServer(t)
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	page := string(b)
	// One script only adds to it (a stale copy says "as of"): everything
	// the page says is in its HTML.
	if strings.Count(page, "<script") != 1 || !strings.Contains(page, `<script src="/assets/status.js" defer></script>`) {
		t.Fatal("the status page needs JavaScript beyond the deferred as-of note")
	}
	for _, want := range []string{`data-status="partial_outage"`, "Partial outage", "99.95% uptime", "<title>", "eu-london", "Investigating the database"} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	resp, _ = http.Get(srv.URL + "/badge/api.svg")
	b, _ = io.ReadAll(resp.Body)
	if resp.Header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(string(b), "api: 99.95%") {
		t.Fatalf("badge: %s %s", resp.Header.Get("Content-Type"), b)
	}
	if resp, _ := http.Get(srv.URL + "/badge/nope.svg"); resp.StatusCode != 404 {
		t.Fatalf("unknown badge: %d", resp.StatusCode)
	}
	if resp, _ := http.Get(srv.URL + "/assets/style.css"); resp.StatusCode != 200 {
		t.Fatalf("stylesheet: %d", resp.StatusCode)
	}
}

// samplePage makes a status page of n components with days of history.
func samplePage(n, days int) *StatusPage {
	regions := []string{"ca-central", "us-ohio", "us-oregon", "ap-sydney", "ap-tokyo", "eu-frankfurt", "eu-london"}
	p := &StatusPage{Title: "Example", GeneratedAt: time.Now(), Status: PartialOutage}
	for _, r := range regions {
		p.Regions = append(p.Regions, Region{ID: r, Name: r, Healthy: true})
	}
	start := time.Date(2026, 8, 28, 0, 0, 0, 0, time.UTC)
	for i := range n {
		c := Component{ID: fmt.Sprintf("component-%03d", i), Name: fmt.Sprintf("Component %d", i), Status: Operational}
		if i == 1 {
			c.Status = PartialOutage
		}
		for d := range days {
			u := 1 - float64((d*7+i)%11)/10000
			c.Days = append(c.Days, Day{Date: start.AddDate(0, 0, d), Uptime: &u, Down: (d*7 + i) % 11})
		}
		u := 0.99951
		c.Uptime90 = &u
		for _, r := range regions {
			c.Cells = append(c.Cells, Cell{Region: r, Status: "up"})
		}
		p.Components = append(p.Components, c)
	}
	p.Incidents = []Incident{{ID: 1, Title: "Database slow", Status: "investigating", Updates: []IncidentUpdate{{Status: "investigating", Body: "Investigating the database"}}}}
	return p
}

// BenchmarkStatusPage500Components renders the status page of 500
// components with 90 days of bars each and reports p50 and p99.
func BenchmarkStatusPage500Components(b *testing.B) {
	p := samplePage(500, 90)
	var times []time.Duration
	var out bytes.Buffer // as a server writes to its connection
	size := 0
	for b.Loop() {
		out.Reset()
		t0 := time.Now()
		if err := WriteStatus(&out, p); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(t0))
		size = out.Len()
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	q := func(f float64) float64 { return float64(times[int(f*float64(len(times)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(size)/1e6, "MB/page")
}

// A notification's link opens the SRE view's sign-in, which returns to the
// alert's page; it never sends the browser to another site.
func TestSignInReturnsToTheAskedPage(t *testing.T) {
	srv, _ := newTestServer(t)
	jar, _ := cookiejar.New(nil)
	c := noRedirect(jar)
	resp, _ := c.Get(srv.URL + "/sre/alerts/burn:avail/page")
	login := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || login != "/sre/login?next=%2Fsre%2Falerts%2Fburn%3Aavail%2Fpage" {
		t.Fatalf("anonymous alert page: %d %s", resp.StatusCode, login)
	}
	for next, want := range map[string]string{"/sre/alerts/burn:avail/page": "/sre/alerts/burn:avail/page", "//evil.example/sre": "/sre", "https://evil.example/": "/sre"} {
		tok := csrfOf(t, c, srv.URL+"/sre/login?next="+url.QueryEscape(next))
		resp, _ = c.PostForm(srv.URL+"/sre/login", url.Values{"csrf": {tok}, "user": {"alice"}, "password": {"correct horse"}, "next": {next}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Fatalf("sign-in with next=%s: %d %s, want %s", next, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}
}

// A chart of one point (a check's first minutes) draws its dots; failed
// runs are marked.
func TestLatencyChartFromOnePoint(t *testing.T) {
	chart := string(latencyChart([]Percentile{{At: time.Unix(0, 0), P50: 10, P95: 12, P99: 15, Up: 3, Failed: 2, FailedMS: 900}}))
	for _, want := range []string{"<circle", "p50 10.0 ms", `class="failed"`, "2 failed at"} {
		if !strings.Contains(chart, want) {
			t.Errorf("chart lacks %q:\n%s", want, chart)
		}
	}
}
