package browser

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nines-sre/nines/dashboard"
	"github.com/nines-sre/nines/e2e/internal/harness"
	"github.com/nines-sre/nines/internal/chrometest"
	"github.com/nines-sre/nines/internal/smtptest"
	"github.com/nines-sre/nines/internal/testwait"
)

// chromium finds Debian's Chromium, or says why the browser tests cannot run.
func chromium(t *testing.T) string { return chrometest.Path(t) }

func browser(t *testing.T, exe string) (context.Context, context.CancelFunc) {
	return chrometest.New(t, exe, 4*time.Minute)
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("NINES_SCREENSHOT_DIR")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Error(err)
	}
}

// browserDemo runs nines demo with args for a browser test, and returns
// the controller's and contentsvc's addresses; the end of its log is shown
// when the test fails.
func browserDemo(t *testing.T, args ...string) (ctl, cs string) {
	t.Helper()
	dir := t.TempDir()
	ctl, cs = harness.FreeAddr(t), harness.FreeAddr(t)
	demo := harness.Start(t, dir, "demo", append([]string{"demo", "--listen", ctl, "--contentsvc-listen", cs, "--data", filepath.Join(dir, "data"), "--browser", "none"}, args...)...)
	t.Cleanup(func() {
		if t.Failed() {
			demo.Tail(t)
		}
	})
	return ctl, cs
}

// componentShows waits until the status page at base shows component in
// status.
func componentShows(t *testing.T, ctx context.Context, base, component, status string) {
	t.Helper()
	sel := "#component-" + component
	testwait.Eventually(t, 2*time.Minute, "the "+component+" component in "+status, func() error {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(sel)); err != nil {
			return err
		}
		attr, err := chromedp.Run(ctx, chromedp.AttributeValue(sel+" .badge", "data-status"))
		if err != nil || attr.Value != status {
			return fmt.Errorf("the page shows %q (%v)", attr.Value, err)
		}
		return nil
	})
}

// TestStatusPageAndSREViewInABrowser drives the running demo in headless
// Chromium: the status page shows the regions and components, a global
// fault turns a component to an outage, and the SRE signs in, sees the
// firing alert and acknowledges it, which stops its escalation.
func TestStatusPageAndSREViewInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	exe := chromium(t)
	t.Parallel()
	ctl, cs := browserDemo(t)
	base := "http://" + ctl
	harness.WaitFor(t, ctl, "every demo check up in seven regions", 90*time.Second, func(s *harness.Status) bool {
		return len(s.Components) == 3 && harness.AllUp(s, []string{"segments-api", "cdn-manifest", "cdn-welcome-v1", "content-flow"}, harness.Regions)
	})
	ctx, cancel := browser(t, exe)
	defer cancel()

	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible("#regions")); err != nil {
		t.Fatal(err)
	}
	matrix, err := chromedp.Run(ctx, chromedp.Text("#regions"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range harness.Regions {
		if !strings.Contains(matrix, r) {
			t.Errorf("the region matrix lacks %s:\n%s", r, matrix)
		}
	}
	for _, c := range []string{"#component-segments", "#component-cdn"} {
		if txt, err := chromedp.Run(ctx, chromedp.Text(c)); err != nil || !strings.Contains(txt, "Operational") {
			t.Errorf("%s: %q %v", c, txt, err)
		}
	}
	screenshot(t, ctx, "status-page.png")

	harness.Post(t, "http://"+cs+"/admin/faults", `{"target":"segments","outage":true}`)
	componentShows(t, ctx, base, "segments", "major_outage")
	if txt, _ := chromedp.Run(ctx, chromedp.Text("#component-segments")); !strings.Contains(txt, "Major outage") {
		t.Errorf("the outage is not said in words: %q", txt)
	}
	screenshot(t, ctx, "status-page-outage.png")

	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/sre"), chromedp.WaitVisible("#user"),
		chromedp.SendKeys("#user", "sre"), chromedp.SendKeys("#password", "nines-demo"), chromedp.Click("#sign-in"),
		chromedp.WaitVisible("#alerts")); err != nil {
		t.Fatal(err)
	}
	// The outage's group is what pages and what is acknowledged.
	row := `#alerts tr[data-key="group:page"]`
	testwait.Eventually(t, 30*time.Second, "a firing alert on the SRE view", func() error {
		txt, err := chromedp.Run(ctx, chromedp.Text("#alerts"))
		if err == nil && strings.Contains(txt, "down:segments-api") && strings.Contains(txt, "group:page") && strings.Contains(txt, "firing") {
			return nil
		}
		chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible("#alerts"))
		return fmt.Errorf("the alerts say %q (%v)", txt, err)
	})
	screenshot(t, ctx, "sre-view.png")
	if err := chromedp.Do(ctx, chromedp.Click(row+" button.ack")); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 10*time.Second, "the alert acknowledged after the click", func() error {
		state, err := chromedp.Run(ctx, chromedp.AttributeValue(row+" .badge", "data-state"))
		if err != nil || state.Value != "acknowledged" {
			return fmt.Errorf("the alert is %q (%v)", state.Value, err)
		}
		return nil
	})
	var alert struct {
		Alert struct {
			State          string     `json:"state"`
			NextEscalation *time.Time `json:"next_escalation_at"`
			AckedBy        string     `json:"acknowledged_by"`
		} `json:"alert"`
	}
	if err := harness.GetJSON(base+"/api/v1/alerts/group:page", &alert); err != nil {
		t.Fatal(err)
	}
	if alert.Alert.State != "acknowledged" || alert.Alert.NextEscalation != nil || alert.Alert.AckedBy != "sre" {
		t.Fatalf("escalation goes on after the acknowledgement: %+v", alert.Alert)
	}
	var sink struct {
		Notifications []map[string]any `json:"notifications"`
	}
	if err := harness.GetJSON("http://"+cs+"/admin/notifications", &sink); err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, n := range sink.Notifications {
		if n["alert_key"] == "group:page" {
			actions = append(actions, fmt.Sprint(n["action"]))
		}
	}
	if len(actions) == 0 || actions[0] != "trigger" || !strings.Contains(strings.Join(actions, ","), "acknowledge") {
		t.Fatalf("notifications sent for the alert: %v", actions)
	}
	screenshot(t, ctx, "sre-view-acknowledged.png")
	harness.Post(t, "http://"+cs+"/admin/faults", "")

	// The check page over seven days: uptime per region, the outage's
	// failed runs marked in the latency charts.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/sre/checks/segments-api?range=7d"), chromedp.WaitVisible("#uptime")); err != nil {
		t.Fatal(err)
	}
	if txt, _ := chromedp.Run(ctx, chromedp.Text("#ranges")); !strings.Contains(txt, "7d") {
		t.Errorf("the ranges say %q", txt)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("svg.chart .failed").length`)); err != nil || n == 0 {
		t.Errorf("no failed run marked in the charts: %d %v", n, err)
	}
	screenshot(t, ctx, "sre-check-7d.png")

	// The announced maintenance (the demo's, tomorrow) on the status page.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(".maintenance")); err != nil {
		t.Fatal(err)
	}
	if txt, _ := chromedp.Run(ctx, chromedp.Text(".maintenance")); !strings.Contains(txt, "CDN cache upgrade") || !strings.Contains(txt, "Scheduled") {
		t.Errorf("the announced maintenance says %q", txt)
	}
	screenshot(t, ctx, "status-page-maintenance.png")
	// The history lists the outage's incident; its link opens its timeline.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/history"), chromedp.WaitVisible(".month .incident a")); err != nil {
		t.Fatal(err)
	}
	if txt, _ := chromedp.Run(ctx, chromedp.Text(".month")); !strings.Contains(txt, "Segments API down in") {
		t.Errorf("this month's history says %q", txt)
	}
	screenshot(t, ctx, "history.png")
	if err := chromedp.Do(ctx, chromedp.Click(".month .incident a"), chromedp.WaitVisible("#incident-status")); err != nil {
		t.Fatal(err)
	}
	if txt, _ := chromedp.Run(ctx, chromedp.Text(".timeline")); !strings.Contains(txt, "investigating") {
		t.Errorf("the incident's timeline says %q", txt)
	}
	screenshot(t, ctx, "incident.png")
}

// staleSource gives an exported page of a fixed status document.
type staleSource struct {
	dashboard.Source
	page *dashboard.StatusPage
}

func (s staleSource) StatusPage(context.Context) (*dashboard.StatusPage, error) { return s.page, nil }

// TestStaleStatusCopySaysAsOf exports the status page as the controller
// does and opens the copy in Chromium: made ten minutes ago, it says "as
// of" its time in its banner; made just now, it does not.
func TestStaleStatusCopySaysAsOf(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	exe := chromium(t)
	ctx, cancel := browser(t, exe)
	defer cancel()
	for _, age := range []time.Duration{10 * time.Minute, 0} {
		made := time.Now().Add(-age).UTC()
		dir := t.TempDir()
		page := &dashboard.StatusPage{Title: "Example", GeneratedAt: made, Status: dashboard.Operational,
			Components: []dashboard.Component{}, Incidents: []dashboard.Incident{}}
		if err := dashboard.Export(context.Background(), staleSource{page: page}, dashboard.Dir(dir)); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible("#overall")); err != nil {
			t.Fatal(err)
		}
		want := "As of " + made.Format("15:04") + " UTC: "
		var overall string
		testwait.Eventually(t, 5*time.Second, "the banner after the page's script ran", func() error {
			var err error
			if overall, err = chromedp.Run(ctx, chromedp.Text("#overall")); err != nil {
				return err
			}
			if age > 0 && !strings.HasPrefix(overall, want) {
				return fmt.Errorf("banner %q, want it to start %q", overall, want)
			}
			return nil
		})
		stale, _ := chromedp.Run(ctx, chromedp.TextContent("#stale"))
		switch {
		case age > 0 && !strings.Contains(stale, "has not been updated for 10 minutes"):
			t.Errorf("a copy ten minutes old: note %q", stale)
		case age == 0 && (strings.Contains(overall, "As of") || stale != ""):
			t.Errorf("a fresh copy says %q / %q", overall, stale)
		}
		if age > 0 {
			screenshot(t, ctx, "status-page-stale.png")
		}
		srv.Close()
	}
}

// TestSubscribeByEmailInABrowser subscribes from the status page of the
// controller harness.Binary, with an SMTP stand-in: the form, the confirmation
// mail's link and its button, then the unsubscribe link and its button.
func TestSubscribeByEmailInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	exe := chromium(t)
	t.Parallel()
	mails := smtptest.Start(t)
	dir := t.TempDir()
	rs, toks := harness.LayOutRegions(t, dir)
	ctl := harness.FreeAddr(t)
	base := "http://" + ctl
	cfg := fmt.Sprintf(harness.ConfigHead+`alerting:
  dashboard_url: %s
dashboard:
  title: Example
  subscriptions: {smtp: %q, from: status@example.com}
`, rs, toks, "127.0.0.1:9", base, mails.Addr)
	cfgPath := filepath.Join(dir, "nines.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	controller := harness.Start(t, dir, "controller", "controller", "--config", cfgPath, "--data", filepath.Join(dir, "ctl"), "--listen", ctl)
	harness.Answering(t, base+"/healthz", controller)
	ctx, cancel := browser(t, exe)
	defer cancel()

	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible("#subscribe"),
		chromedp.SendKeys("#address", "ann@example.com"), chromedp.Click("#subscribe-button"), chromedp.WaitVisible("#result")); err != nil {
		t.Fatal(err)
	}
	if txt, _ := chromedp.Run(ctx, chromedp.Text("#result")); !strings.Contains(txt, "a…@example.com") {
		t.Fatalf("after subscribing: %q", txt)
	}
	screenshot(t, ctx, "subscribe-sent.png")
	var mail string
	testwait.Eventually(t, 10*time.Second, "the confirmation mail", func() error {
		if m := mails.Messages(); len(m) == 1 {
			mail = m[0].Data
			return nil
		}
		return errors.New("no mail yet")
	})
	link := regexp.MustCompile(regexp.QuoteMeta(base) + `/subscribe/confirm\?token=[0-9a-f]+`).FindString(mail)
	unsubscribe := regexp.MustCompile(`List-Unsubscribe: <([^>]+)>`).FindStringSubmatch(mail)
	if link == "" || unsubscribe == nil {
		t.Fatalf("the confirmation mail:\n%s", mail)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(link), chromedp.WaitVisible("#confirm"), chromedp.Click("#confirm"), chromedp.WaitVisible("#result")); err != nil {
		t.Fatal(err)
	}
	if txt, _ := chromedp.Run(ctx, chromedp.Text("#result")); !strings.Contains(txt, "Subscribed") {
		t.Fatalf("after confirming: %q", txt)
	}
	screenshot(t, ctx, "subscribe-confirmed.png")
	if err := chromedp.Do(ctx, chromedp.Navigate(unsubscribe[1]), chromedp.WaitVisible("#unsubscribe"), chromedp.Click("#unsubscribe"),
		chromedp.WaitVisible("#result")); err != nil {
		t.Fatal(err)
	}
	if txt, _ := chromedp.Run(ctx, chromedp.Text("#result")); !strings.Contains(txt, "Unsubscribed") {
		t.Fatalf("after unsubscribing: %q", txt)
	}
	// The link is spent.
	if err := chromedp.Do(ctx, chromedp.Navigate(unsubscribe[1]), chromedp.WaitVisible("#unsubscribe"), chromedp.Click("#unsubscribe"),
		chromedp.WaitVisible("#result")); err != nil {
		t.Fatal(err)
	}
	if txt, _ := chromedp.Run(ctx, chromedp.Text("#result")); !strings.Contains(txt, "not valid") {
		t.Fatalf("unsubscribing twice: %q", txt)
	}
}

// Components as customers see them, in a browser: the demo's internal
// component is not on the page, its content components are shown in their
// group, and a stalled job turns its own component red while the banner
// stays operational.
func TestComponentsOnThePageInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	exe := chromium(t)
	t.Parallel()
	ctl, cs := browserDemo(t, "--jobs")
	base := "http://" + ctl
	harness.WaitFor(t, ctl, "every demo check up", 90*time.Second, func(s *harness.Status) bool {
		return harness.AllUp(s, []string{"segments-api", "cdn-manifest", "cdn-welcome-v1", "content-flow"}, harness.Regions) && s.Check("publish-pipeline").Status == "up"
	})
	ctx, cancel := browser(t, exe)
	defer cancel()
	harness.Post(t, "http://"+cs+"/admin/faults", `{"target":"pipeline","outage":true}`)
	componentShows(t, ctx, base, "pipeline", "major_outage")
	banner, err := chromedp.Run(ctx, chromedp.AttributeValue("#overall", "class"))
	if err != nil || banner.Value != "banner s-operational" {
		t.Errorf("with the job stalled the banner is %q (%v), want operational", banner.Value, err)
	}
	group, err := chromedp.Run(ctx, chromedp.Text("#group-content-platform"))
	if err != nil || !strings.Contains(group, "Content platform") || !strings.Contains(group, "Segments API") || !strings.Contains(group, "Content CDN") {
		t.Errorf("the content platform group: %q (%v)", group, err)
	}
	page, err := chromedp.Run(ctx, chromedp.OuterHTML("html"))
	if err != nil || strings.Contains(page, "internals") || strings.Contains(page, "contentsvc process") {
		t.Errorf("the internal component is on the page (%v)", err)
	}
	screenshot(t, ctx, "status-page-components.png")
}
