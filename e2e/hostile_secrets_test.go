package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nines-sre/nines/alerting/pagerdutytest"
	"github.com/nines-sre/nines/internal/testwait"
	"github.com/nines-sre/nines/model"
)

// TestHostileSecretsNeverLeave runs the real binary with credentials in check URLs
// (userinfo, query values, a key-only parameter, a path part marked
// {secret:…}), in a dead man's switch URL, in notifier URLs (a Slack URL is itself the secret, a
// webhook's query), in notifier settings (SMTP password, webhook signing
// key), in tokens and in a configuration reload that fails. The notifiers
// fail, so their errors are kept. Then every API answer, page, badge,
// exported file, metric, log line and notification sent is searched: none
// holds a secret.
func TestHostileSecretsNeverLeave(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	t.Parallel()
	dir := t.TempDir()
	ctl := freeAddr(t)
	rs, toks := layOutRegions(t, dir)
	secret := map[string]string{
		"check URL password":    "s1-userinfo-password",
		"check URL query":       "s2-query-api-key",
		"Slack URL":             "s3SlackPathSecret",
		"webhook URL query":     "s4-webhook-query-token",
		"webhook signing key":   "s5-webhook-signing-key",
		"SMTP password":         "s6-smtp-password",
		"API token":             "s7-api-token-0123456789",
		"PagerDuty webhook key": "s8-pd-webhook-secret",
		"PagerDuty routing key": "S9ROUTINGKEYS9ROUTINGKEYS9ROUTIN",
		"check URL key-only":    "s10KeyOnlyQuerySecret",
		"check URL path":        "s11-path-secret-0123",
		"dead man's switch":     "s12DeadmanPathSecret",
		"scheme-less Slack URL": "s13SchemelessSlack",
	}
	for _, r := range regions {
		secret["probe token of "+r] = token(r)
	}
	// secret-up's target answers; secret-down's is a closed port, so its
	// messages hold the URL the way the HTTP client reports it.
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer target.Close()
	// Slack and the webhook receiver refuse; what nines sent them is kept.
	var mu sync.Mutex
	var sent []string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		sent = append(sent, string(b))
		mu.Unlock()
		http.Error(w, "no_service", http.StatusInternalServerError)
	}))
	defer receiver.Close()
	pd := pagerdutytest.New()
	defer pd.Close()
	host := strings.TrimPrefix(target.URL, "http://")
	checkURL := func(host, path string) string {
		return fmt.Sprintf("http://probe:%s@%s%s?api_key=%s&v=1&%s", secret["check URL password"], host, path, secret["check URL query"],
			secret["check URL key-only"])
	}
	// secret-down's path holds a credential, marked for what it is.
	downURL := checkURL("127.0.0.1:9", "/ping/{secret:"+secret["check URL path"]+"}/down")
	slackURL := receiver.URL + "/services/T0/B0/" + secret["Slack URL"]
	hookURL := receiver.URL + "/hook?token=" + secret["webhook URL query"]
	exportDir := filepath.Join(dir, "export")
	cfg := fmt.Sprintf(`
regions:
%s
probes:
  heartbeat_interval: 1s
  tokens:
%s
defaults:
  interval: 2s
  timeout: 1s
quorum: 2
components:
  - id: api
    checks:
      - {id: secret-down, kind: http, regions: [eu-london, us-ohio, ap-tokyo], http: {url: %q}}
      - {id: secret-up, kind: http, regions: [eu-london, us-ohio, ap-tokyo], http: {url: %q}}
dashboard:
  export_dir: %q
  users:
    - {name: sre, password_hash: "$2a$10$DqXrvdHsSNQ8.noeAACvwezkv7Z.UolXgK6jAr4KTvIbsqgYRNDs2"}
alerting:
  api_tokens: [%s]
  deadman: {url: %q, every: 10s}
  pagerduty_webhook_secret: %s
  notifiers:
    - {id: pd, pagerduty: {routing_key: %s, events_url: %q}}
    - {id: slack, slack: {url: %q}}
    - {id: hook, webhook: {url: %q, secret: %s}}
    - {id: mail, email: {smtp: "127.0.0.1:9", from: nines@example.com, to: [sre@example.com], username: nines, password: %s}}
  policies:
    - {id: page, levels: [{targets: [pd, slack, hook, mail]}]}
  rules:
    - {id: down, kind: check_down, policy: page}
`, rs, toks, downURL, checkURL(host, "/up"), exportDir, secret["API token"], receiver.URL+"/deadman/"+secret["dead man's switch"], secret["PagerDuty webhook key"],
		secret["PagerDuty routing key"], pd.URL, slackURL, hookURL, secret["webhook signing key"], secret["SMTP password"])
	cfgPath := filepath.Join(dir, "nines.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	procs := []*proc{start(t, dir, "controller", "controller", "--config", cfgPath, "--data", filepath.Join(dir, "ctl"), "--listen", ctl)}
	for _, r := range []string{"eu-london", "us-ohio", "ap-tokyo"} {
		procs = append(procs, start(t, dir, "probe-"+r, "probe", "--region", r, "--controller", "http://"+ctl,
			"--token-file", filepath.Join(dir, "tokens", r), "--probe-id", "e2e-"+r, "--spool", filepath.Join(dir, r+".db"), "--listen", ""))
	}
	defer func() {
		if t.Failed() {
			procs[0].Tail(t)
		}
	}()
	base := "http://" + ctl
	waitFor(t, ctl, "secret-down down, secret-up up", 60*time.Second, func(s *status) bool {
		return s.Check("secret-down").Status == "down" && s.Check("secret-up").Status == "up"
	})
	// Every notifier failed at least once (PagerDuty's answered).
	testwait.Eventually(t, 40*time.Second, "every notifier failing and PagerDuty paged", func() error {
		alertBody, err := getText(base + "/api/v1/alerts/group:page")
		if err != nil || strings.Count(alertBody, `"last_error":`) < 3 || len(pd.Events()) == 0 {
			return fmt.Errorf("the alert: %s (%v)", alertBody, err)
		}
		return nil
	})
	// A reload that fails on a notifier URL and a check URL.
	broken := strings.Replace(cfg, slackURL, "htp://x:"+secret["check URL password"]+"@"+strings.TrimPrefix(slackURL, "http://"), 1)
	broken = strings.Replace(broken, hookURL, "hooks.example.com/services/T0/B0/"+secret["scheme-less Slack URL"], 1)
	broken = strings.Replace(broken, checkURL(host, "/up"), "ftp"+strings.TrimPrefix(checkURL(host, "/up"), "http"), 1)
	if err := os.WriteFile(cfgPath, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	var statusBody string
	testwait.Eventually(t, 30*time.Second, "the broken configuration reported", func() error {
		var err error
		if statusBody, err = getText(base + "/api/v1/status"); err != nil || !strings.Contains(statusBody, `"last_reload_error"`) {
			return fmt.Errorf("the status: %s (%v)", statusBody, err)
		}
		return nil
	})
	if !strings.Contains(statusBody, "alerting.notifiers[1].slack.url") || !strings.Contains(statusBody, "components[0].checks[1].http.url") {
		t.Errorf("the reload error does not name the fields: %s", statusBody)
	}

	// Gather everything a person or a program could see.
	seen := map[string]string{}
	get := func(client *http.Client, path string) string {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d %.200s", path, resp.StatusCode, b)
		}
		seen["GET "+path] = string(b)
		return string(b)
	}
	var alerts alertsDoc
	if err := json.Unmarshal([]byte(get(http.DefaultClient, "/api/v1/alerts")), &alerts); err != nil || len(alerts.Alerts) == 0 {
		t.Fatalf("alerts: %v %+v", err, alerts)
	}
	for _, p := range []string{"/api/v1/status", "/api/v1/results?check=secret-down&limit=1000", "/api/v1/results?check=secret-up&limit=1000",
		"/api/v1/slo", "/api/v1/leader", "/metrics", "/", "/badge/secret-down.svg", "/sre/login"} {
		get(http.DefaultClient, p)
	}
	jar, _ := cookiejar.New(nil)
	sre := &http.Client{Jar: jar}
	login := get(sre, "/sre/login")
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(login)
	if m == nil {
		t.Fatalf("no CSRF token on the sign-in page")
	}
	resp, err := sre.PostForm(base+"/sre/login", url.Values{"csrf": {m[1]}, "user": {"sre"}, "password": {"nines-demo"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	get(sre, "/sre")
	get(sre, "/sre/checks/secret-down")
	get(sre, "/sre/checks/secret-up")
	for _, a := range alerts.Alerts {
		get(http.DefaultClient, "/api/v1/alerts/"+a.Key)
		get(sre, "/sre/alerts/"+a.Key)
	}
	if !strings.Contains(seen["GET /sre"], "secret-down") {
		t.Fatalf("the SRE view did not show the checks (signed in?)")
	}
	_ = filepath.WalkDir(exportDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			seen["exported "+p] = string(b)
		}
		return nil
	})
	for _, p := range procs {
		p.Stop(syscall.SIGTERM)
		b, _ := os.ReadFile(p.Log)
		seen["log of "+p.Name] = string(b)
	}
	mu.Lock()
	for i, s := range sent {
		seen[fmt.Sprintf("notification %d sent to Slack or the webhook", i)] = s
	}
	mu.Unlock()
	for i, ev := range pd.Events() {
		b, _ := json.Marshal(ev)
		// The routing key is where a PagerDuty event goes: it must be there.
		seen[fmt.Sprintf("PagerDuty event %d", i)] = strings.ReplaceAll(string(b), secret["PagerDuty routing key"], "")
	}

	// What was gathered holds the things that were redacted around the
	// secrets: the search below searches real text.
	for _, w := range []string{"GET /api/v1/status", "GET /sre/checks/secret-down", "GET /api/v1/alerts/down:secret-down"} {
		if !strings.Contains(seen[w], model.Redacted) {
			t.Errorf("%s shows no redacted URL: nothing was searched there", w)
		}
	}
	if !strings.Contains(seen["log of controller"], "slack") {
		t.Errorf("the controller's log says nothing of the failing Slack notifier")
	}
	for what, text := range seen {
		for name, s := range secret {
			if i := strings.Index(text, s); i >= 0 {
				t.Errorf("%s holds the %s: …%s…", what, name, text[max(0, i-80):min(len(text), i+len(s)+20)])
			}
		}
	}
	t.Logf("searched %d answers, pages, files, logs and notifications for %d secrets", len(seen), len(secret))
}
