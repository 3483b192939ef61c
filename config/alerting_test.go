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

func TestGrouping(t *testing.T) {
	base := notifierHead + "    - {id: n, slack: {url: \"https://hooks.slack.com/x\"}}\n"
	cfg, err := Parse("test.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if a := cfg.Alerting; len(a.GroupBy) != 0 || a.Wait() != time.Second || a.Interval() != 30*time.Second {
		t.Fatalf("defaults: group_by %v, wait %s, interval %s", a.GroupBy, a.Wait(), a.Interval())
	}
	cfg, err = Parse("test.yaml", []byte(base+"  group_by: [component, region]\n  group_wait: 0s\n  group_interval: 5m\n"))
	if err != nil {
		t.Fatal(err)
	}
	if a := cfg.Alerting; strings.Join(a.GroupBy, ",") != "component,region" || a.Wait() != 0 || a.Interval() != 5*time.Minute {
		t.Fatalf("set: group_by %v, wait %s, interval %s", a.GroupBy, a.Wait(), a.Interval())
	}
	for yaml, want := range map[string]string{
		"  group_by: [host]\n":    `alerting.group_by[0]: "host" is not one of policy, component, check, rule, region`,
		"  group_wait: 10m\n":     "alerting.group_wait: 10m0s is not between 0s and 5m",
		"  group_interval: -1s\n": "alerting.group_interval: -1s is not between 0s and 1h",
	} {
		if _, err := Parse("test.yaml", []byte(base+yaml)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", yaml, err, want)
		}
	}
	reserved := strings.Replace(base, "rules: [{id: down,", "rules: [{id: group,", 1)
	if _, err := Parse("test.yaml", []byte(reserved)); err == nil || !strings.Contains(err.Error(), `alerting.rules[0].id: "group" is reserved`) {
		t.Errorf("a rule named group: %v", err)
	}
}
