package config

import (
	"strings"
	"testing"
	"time"
)

func TestDeadman(t *testing.T) {
	cfg, err := Parse("test.yaml", []byte(notifierHead+"    - {id: n, slack: {url: \"https://hooks.slack.com/x\"}}\n  deadman: {url: \"https://hc-ping.com/abc\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d := cfg.Alerting.Deadman; d == nil || d.URL != "https://hc-ping.com/abc" || d.Every.D() != time.Minute {
		t.Fatalf("deadman %+v, want the URL every minute", d)
	}
	for yaml, want := range map[string]string{
		"{url: \"ftp://x\"}":                      "alerting.deadman.url: \"ftp://x\" is not an http(s) URL",
		"{url: \"https://x.example\", every: 1s}": "alerting.deadman.every: 1s is too often: 10s at least",
	} {
		_, err := Parse("test.yaml", []byte(notifierHead+"    - {id: n, slack: {url: \"https://hooks.slack.com/x\"}}\n  deadman: "+yaml+"\n"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", yaml, err, want)
		}
	}
}

func TestSubscriptionsNeedWhereLinksPoint(t *testing.T) {
	base := notifierHead + "    - {id: n, slack: {url: \"https://hooks.slack.com/x\"}}\n"
	for yaml, want := range map[string]string{
		"dashboard: {subscriptions: {webhooks: true}}\n":                                                                      "dashboard.subscriptions: needs alerting.dashboard_url",
		"  dashboard_url: https://status.example.com\ndashboard: {subscriptions: {}}\n":                                       "set smtp (email subscriptions), webhooks: true, or both",
		"  dashboard_url: https://status.example.com\ndashboard: {subscriptions: {smtp: \"mail.example.com:25\", from: x}}\n": "dashboard.subscriptions.from: \"x\" is not an email address",
	} {
		_, err := Parse("test.yaml", []byte(base+yaml))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", yaml, err, want)
		}
	}
}
