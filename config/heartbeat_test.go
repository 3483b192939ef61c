package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const heartbeatHead = `regions: [{id: eu-london}, {id: eu-paris}]
probes:
  tokens: [{region: eu-london, token: a-long-enough-token-1}]
components:
  - id: jobs
    checks:
      - `

func TestHeartbeatChecks(t *testing.T) {
	cfg, err := Parse("test.yaml", []byte(heartbeatHead+`{id: nightly, kind: heartbeat, heartbeat: {cron: "30 2 * * *", grace: 30m, key: nightly-key-0123456789}}`+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	ch := cfg.Check("nightly")
	h := ch.Heartbeat
	last := time.Date(2026, 11, 30, 2, 31, 0, 0, time.UTC)
	if got := h.Deadline(last); !got.Equal(time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)) {
		t.Errorf("deadline after a 02:31 ping: %s, want the next 02:30 plus 30m", got)
	}
	if ch.Period() != 24*time.Hour || ch.Fresh() != 24*time.Hour+30*time.Minute+heartbeatSlack {
		t.Errorf("period %s fresh %s", ch.Period(), ch.Fresh())
	}
	if !h.KeyMatches("nightly-key-0123456789") || h.KeyMatches("nightly-key-012345678") || h.KeyMatches("") {
		t.Error("key matching")
	}
	// A key from a file beside the configuration.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ping.key"), []byte("file-key-0123456789abc\n"), 0o600)
	path := filepath.Join(dir, "nines.yaml")
	os.WriteFile(path, []byte(heartbeatHead+`{id: hourly, kind: heartbeat, heartbeat: {period: 1h, key_file: ping.key}}`+"\n"), 0o644)
	if cfg, err := Load(path); err != nil || !cfg.Check("hourly").Heartbeat.KeyMatches("file-key-0123456789abc") ||
		cfg.Check("hourly").Heartbeat.Grace.D() != time.Minute {
		t.Fatalf("key_file: %v", err)
	}
}

func TestHeartbeatMistakesAreNamed(t *testing.T) {
	for check, want := range map[string]string{
		`{id: n, kind: heartbeat, heartbeat: {key: nightly-key-0123456789}}`:                                            "components[0].checks[0].heartbeat: set one of period and cron",
		`{id: n, kind: heartbeat, heartbeat: {period: 1h, cron: "0 * * * *", key: nightly-key-0123456789}}`:             "set one of period and cron",
		`{id: n, kind: heartbeat, heartbeat: {period: 1h, key: short}}`:                                                 "heartbeat.key: must be at least 16 characters",
		`{id: n, kind: heartbeat, heartbeat: {period: 1h, key: "nightly/key/0123456789"}}`:                              "heartbeat.key: must be at least 16 characters, none of them /",
		`{id: n, kind: heartbeat, heartbeat: {period: 1h}}`:                                                             "set one of key and key_file",
		`{id: n, kind: heartbeat, regions: [eu-london], heartbeat: {period: 1h, key: nightly-key-0123456789}}`:          "checks[0].regions: a heartbeat check has no regions",
		`{id: n, kind: heartbeat, assert: ["status == 200"], heartbeat: {period: 1h, key: nightly-key-0123456789}}`:     "checks[0].assert: a heartbeat check has nothing to assert on",
		`{id: n, kind: heartbeat, heartbeat: {period: 1h, grace: -1m, key: nightly-key-0123456789}}`:                    "heartbeat.grace: must not be negative",
		`{id: n, kind: heartbeat, heartbeat: {cron: "61 * * * *", key: nightly-key-0123456789}}`:                        "heartbeat.cron:",
		`{id: n, kind: http, http: {url: "http://127.0.0.1:9/"}, heartbeat: {period: 1h, key: nightly-key-0123456789}}`: "a http check takes a http block, not heartbeat",
	} {
		_, err := Parse("test.yaml", []byte(heartbeatHead+check+"\n"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n%v\nwant %q", check, err, want)
		}
	}
}
