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

func TestEventRules(t *testing.T) {
	base := notifierHead + "    - {id: n, slack: {url: \"https://hooks.slack.com/x\"}}\n"
	withRule := func(rule string) string {
		return strings.Replace(base, "rules: [{id: down, kind: check_down, policy: page}]", "rules: [{id: down, kind: check_down, policy: page}, "+rule+"]", 1)
	}
	cfg, err := Parse("test.yaml", []byte(withRule("{id: errs, kind: event, policy: page, key: errs-key-0123456789ab, components: [api]}")))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Alerting.Rules[1]
	if r.Hold.D() != DefaultEventHold || r.Severity != "warning" || r.Urgency != "low" || !r.KeyMatches("errs-key-0123456789ab") || r.KeyMatches("errs-key-0123456789ac") {
		t.Fatalf("defaults: %+v", r)
	}
	if cfg.Alerting.Rules[0].KeyMatches("") {
		t.Fatal("a check_down rule matched a key")
	}
	for rule, want := range map[string]string{
		"{id: e, kind: event, policy: page}":                                              "alerting.rules[1]: set one of key and key_file",
		"{id: e, kind: event, policy: page, key: short}":                                  "alerting.rules[1].key: must be at least 16 characters",
		"{id: e, kind: event, policy: page, key: errs-key-0123456789ab, hold: 10s}":       "alerting.rules[1].hold: 10s is not between 1m and 7d",
		"{id: e, kind: event, policy: page, key: errs-key-0123456789ab, checks: [a]}":     "alerting.rules[1].components: an event rule names at most one component",
		"{id: e, kind: check_down, policy: page, key: errs-key-0123456789ab}":             "alerting.rules[1].key: only an event rule has a key and a hold",
		"{id: e, kind: event, policy: page, key_file: /nonexistent/nines-events-key.txt}": "alerting.rules[1].key_file: cannot read",
	} {
		if _, err := Parse("test.yaml", []byte(withRule(rule))); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", rule, err, want)
		}
	}
}
