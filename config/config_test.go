package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/configs"
	"github.com/nines-sre/nines/model"
)

const minimal = `regions:
  - id: eu-london
  - id: eu-frankfurt
probes:
  tokens:
    - {region: eu-london, token: london-token-0123456789}
    - {region: eu-frankfurt, token: frankfurt-token-0123456789}
components:
  - id: api
    checks:
      - id: api-health
        kind: http
        http: {url: "http://127.0.0.1:9/healthz"}
`

func TestDefaultsApplied(t *testing.T) {
	cfg, err := Parse("min.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	ch := cfg.Check("api-health")
	if ch.Interval.D() != time.Minute || ch.Timeout.D() != 10*time.Second || ch.HTTP.Method != "GET" {
		t.Fatalf("defaults not applied: %+v %+v", ch, ch.HTTP)
	}
	if cfg.Quorum != 2 || cfg.UnhealthyAfter() != 30*time.Second {
		t.Fatalf("quorum %d, unhealthy after %s", cfg.Quorum, cfg.UnhealthyAfter())
	}
	m := cfg.Model(ch, "eu-frankfurt")
	if !m.HTTP.FollowRedirects || m.Offset < 0 || m.Offset >= time.Minute {
		t.Fatalf("model %+v", m)
	}
	if cfg.Version == "" {
		t.Fatal("no version")
	}
	if !cfg.ConfirmsOnDemand() {
		t.Fatal("confirmation on demand is off by default")
	}
	off, err := Parse("off.yaml", []byte("confirm_on_demand: false\n"+minimal))
	if err != nil {
		t.Fatal(err)
	}
	if off.ConfirmsOnDemand() {
		t.Fatal("confirm_on_demand: false left it on")
	}
}

func TestShippedConfigsAreValid(t *testing.T) {
	// example.yaml reads token files beside it: lay them out as an operator would.
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"ca-central", "us-ohio", "us-oregon", "ap-sydney", "ap-tokyo", "eu-london"} {
		if err := os.WriteFile(filepath.Join(dir, "secrets", r+".token"), []byte("token-of-region-"+r+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	example, err := os.ReadFile("../configs/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "example.yaml"), example, 0o644); err != nil {
		t.Fatal(err)
	}
	// As shipped, the example's placeholder secrets are refused, each
	// named; an operator sets their own.
	t.Setenv("NINES_PROBE_TOKEN_EU", "a-token-from-the-environment")
	_, err = Load(filepath.Join(dir, "example.yaml"))
	if err == nil || !strings.Contains(err.Error(), "alerting.api_tokens[0]: is a placeholder") || !strings.Contains(err.Error(), "heartbeat.key: is a placeholder") {
		t.Fatalf("the example's placeholders: %v", err)
	}
	for _, f := range []string{"../configs/demo.yaml", filepath.Join(dir, "example.yaml")} {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Setenv("NINES_API_TOKEN", "9f1c2e7a5b3d48e6a0c4f2b8d6e1a3c5")
			t.Setenv("NINES_NIGHTLY_PING_KEY", "c0ffee4d1e7b2a9f3e5d8c6b")
			t.Setenv("NINES_EVENTS_KEY", "5e7a9c1b3d2f4e6a8b0c")
			cfg, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.AllChecks()) == 0 {
				t.Fatal("no checks")
			}
			if len(cfg.Warnings) > 0 {
				t.Fatalf("the shipped configuration teaches what it warns about:\n%v", cfg.Warnings)
			}
		})
	}
}

// What validate catches beyond syntax: what would always fail, what would
// page for a ticket, and decode and semantic errors in one report, in the
// configuration's words.
func TestValidateCatchesWhatWillAlwaysFail(t *testing.T) {
	head := `regions: [{id: eu-london}, {id: eu-paris}]
probes:
  tokens: [{region: eu-london, token: a-long-enough-token-1}]
`
	for name, tc := range map[string]struct {
		yaml, want string
		warn       bool
	}{
		"unit on a count": {head + `components:
  - id: api
    checks:
      - {id: a, kind: http, http: {url: "http://127.0.0.1:9/"}, assert: ["status == 200ms"]}
`, "test.yaml:7: components[0].checks[0].assert[0]: column 11: status is a count, not a time", false},
		"subject the kind lacks": {head + `components:
  - id: api
    checks:
      - {id: a, kind: http, http: {url: "http://127.0.0.1:9/"}, assert: ["answers.len > 0"]}
`, "a http check has no answers to assert on", false},
		"timeout not under interval": {head + `defaults: {interval: 10s, timeout: 10s}
components:
  - id: api
    checks:
      - {id: a, kind: http, http: {url: "http://127.0.0.1:9/"}}
`, "test.yaml:4: defaults.timeout: 10s is not shorter than the interval 10s", false},
		"syntax error at its line": {head + `components:
  - id: api
    checks:
      - id: a
        kind: http
        http: {url: "http://127.0.0.1:9/"
      - id: b
`, "test.yaml:10: YAML syntax", false},
		"decode and semantic errors together, in plain words": {head + `quorum: two
components:
  - id: API
    checks:
      - {id: a, kind: http, http: {url: "http://127.0.0.1:9/"}}
`, "test.yaml:4: expected a whole number, got the text \"two\"\ntest.yaml:6: components[0].id: \"API\" is not a valid id", false},
		"banner and group of a component": {head + `components:
  - id: api
    banner: red
    group: "-+-"
    checks:
      - {id: a, kind: http, http: {url: "http://127.0.0.1:9/"}}
`, "test.yaml:6: components[0].banner: \"red\" is not full, degraded or none\ntest.yaml:7: components[0].group: \"-+-\" has no letter or digit to name the group by", false},
		"expiry on a paging check": {head + `components:
  - id: api
    checks:
      - {id: t, kind: tls, tls: {address: "127.0.0.1:443"}, assert: ["cert.expires_in > 14d"]}
alerting:
  notifiers: [{id: pd, pagerduty: {routing_key: R0UTINGKEYR0UTINGKEYR0UTINGKEY01}}]
  policies: [{id: page, levels: [{delay: 0s, targets: [pd]}]}]
  rules: [{id: down, kind: check_down, policy: page}]
`, "test.yaml:7: components[0].checks[0].assert[0]: \"cert.expires_in > 14d\" makes an expiring certificate an outage that pages (rule down)", true},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := Parse("test.yaml", []byte(tc.yaml))
			got := ""
			switch {
			case tc.warn && err == nil:
				got = cfg.Warnings.Error()
			case err != nil:
				got = err.Error()
			}
			if !strings.Contains(got, tc.want) {
				t.Fatalf("got:\n%s\nwant it to contain:\n%s", got, tc.want)
			}
			for _, goName := range []string{"config.", "!!", "strconv", "into int"} {
				if strings.Contains(got, goName) {
					t.Fatalf("a program's word %q in:\n%s", goName, got)
				}
			}
		})
	}
}

func TestDemoHasSevenRegions(t *testing.T) {
	cfg, err := Load("../configs/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range cfg.Regions {
		ids = append(ids, r.ID)
	}
	if got := strings.Join(ids, ","); got != "ca-central,us-ohio,us-oregon,ap-sydney,ap-tokyo,eu-frankfurt,eu-london" {
		t.Fatalf("regions %s", got)
	}
}

// Every problem is reported at once, each with file, line and field.
func TestErrorsNameFileLineAndField(t *testing.T) {
	bad := `regions:
  - id: eu-london
  - id: eu-london
probes:
  heartbeat_interval: 10x
  tokens:
    - {region: mars, token: short}
quorum: 5
components:
  - id: api
    checks:
      - id: api-health
        kind: http
        interval: 30s
        timeout: 45s
        regions: [eu-london, atlantis]
        http: {url: "ftp://example.com", method: FETCH}
        assert: ["status = 200", "latency < 300ms"]
      - id: api-health
        kind: smoke
`
	_, err := Parse("bad.yaml", []byte(bad))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("want Errors, got %v", err)
	}
	// A decode error comes in the same report as the semantic ones, in
	// line order.
	if len(errs) < 10 || errs[1].Line != 5 || !strings.Contains(errs[1].Msg, `"10x" is not a duration`) || errs[0].Line != 3 {
		t.Fatalf("decode and semantic errors: %v", errs)
	}

	fixed := strings.Replace(bad, "10x", "10s", 1)
	_, err = Parse("bad.yaml", []byte(fixed))
	if !errors.As(err, &errs) {
		t.Fatalf("want Errors, got %v", err)
	}
	got := err.Error()
	for _, w := range []string{
		`bad.yaml:3: regions[1].id: region "eu-london" is defined twice`,
		`bad.yaml:7: probes.tokens[0].region: unknown region "mars"`,
		`bad.yaml:7: probes.tokens[0].token: must be at least 16 characters`,
		`bad.yaml:8: quorum: 5 is more than the 2 regions defined`,
		`bad.yaml:15: components[0].checks[0].timeout: 45s is longer than the interval 30s`,
		`bad.yaml:16: components[0].checks[0].regions[1]: unknown region "atlantis"`,
		`bad.yaml:17: components[0].checks[0].http.url: "ftp://example.com" is not an absolute http or https URL`,
		`bad.yaml:17: components[0].checks[0].http.method: "FETCH" is not an HTTP method`,
		`bad.yaml:18: components[0].checks[0].assert[0]: column 8: expected an operator`,
		`bad.yaml:19: components[0].checks[1].id: check "api-health" is already defined at components[0].checks[0]`,
		`bad.yaml:20: components[0].checks[1].kind: "smoke" is not a known check kind`,
	} {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in:\n%s", w, got)
		}
	}
}

func TestUnknownFieldIsRefused(t *testing.T) {
	_, err := Parse("x.yaml", []byte(strings.Replace(minimal, "kind: http", "kind: http\n        intervall: 30s", 1)))
	if err == nil || !strings.Contains(err.Error(), `x.yaml:13: unknown field "intervall"`) {
		t.Fatalf("got %v", err)
	}
}

func TestEnvExpansion(t *testing.T) {
	src := strings.Replace(minimal, "http://127.0.0.1:9", "${TARGET_BASE:-http://127.0.0.1:9}", 1)
	src = strings.Replace(src, "london-token-0123456789", "${LONDON_TOKEN}", 1)
	if _, err := Parse("env.yaml", []byte(src)); err == nil || !strings.Contains(err.Error(), "env.yaml:6: environment variable LONDON_TOKEN is not set") {
		t.Fatalf("unset variable: %v", err)
	}
	t.Setenv("LONDON_TOKEN", "london-from-env-0123456789")
	cfg, err := Parse("env.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Probes.Tokens[0].Token != "london-from-env-0123456789" || cfg.Check("api-health").HTTP.URL != "http://127.0.0.1:9/healthz" {
		t.Fatalf("expansion: %+v %s", cfg.Probes.Tokens[0], cfg.Check("api-health").HTTP.URL)
	}
	t.Setenv("LONDON_TOKEN", "two\nlines")
	if _, err := Parse("env.yaml", []byte(src)); err == nil || !strings.Contains(err.Error(), "holds a line break") {
		t.Fatalf("newline: %v", err)
	}
}

func TestTokenFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "london"), []byte("london-token-from-file-01\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(minimal, "token: london-token-0123456789", "token_file: london", 1)
	path := filepath.Join(dir, "nines.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Probes.Tokens[0].Token != "london-token-from-file-01" {
		t.Fatalf("token %q", cfg.Probes.Tokens[0].Token)
	}
}

func TestOffsetStaggersRegions(t *testing.T) {
	iv := time.Minute
	base := Offset("api-health", iv, 0, 7)
	if again := Offset("api-health", iv, 0, 7); again != base {
		t.Fatal("offset is not deterministic")
	}
	for i := 1; i < 7; i++ {
		got := Offset("api-health", iv, i, 7)
		want := (base + iv*time.Duration(i)/7) % iv
		if got != want {
			t.Fatalf("region %d: offset %s, want %s", i, got, want)
		}
	}
	if Offset("api-health", iv, 0, 7) == Offset("cdn-asset", iv, 0, 7) {
		t.Fatal("two checks share a start; the spread should separate them")
	}
}

func TestEveryKindParsesAndValidates(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ca.pem"), []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), 0o644)
	src := minimal + `      - id: redis
        kind: tcp
        tcp: {address: "127.0.0.1:6379", send: "PING\r\n", expect: "+PONG"}
      - id: api-dns
        kind: dns
        dns: {name: api.example.com, type: aaaa, resolver: "127.0.0.1:53", expect: ["2001:db8::1"]}
      - id: api-cert
        kind: tls
        tls: {address: "api.example.com:443", ca_file: ca.pem}
        assert: ["cert.expires_in > 14d"]
      - id: welcome-asset
        kind: cdn
        cdn:
          url: https://cdn.example.com/content/welcome/v3.json
          sha256: ` + strings.Repeat("Ab", 32) + `
          version_json: version
          expect_version: "3"
`
	path := filepath.Join(dir, "kinds.yaml")
	os.WriteFile(path, []byte(src), 0o644)
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Model(cfg.Check("api-dns"), "eu-london")
	if d.DNS.Type != "AAAA" || d.DNS.Protocol != "udp" {
		t.Fatalf("dns defaults: %+v", d.DNS)
	}
	if m := cfg.Model(cfg.Check("api-cert"), "eu-london"); !strings.Contains(m.TLS.CAPEM, "BEGIN CERTIFICATE") {
		t.Fatalf("ca_file not read into the assignment: %+v", m.TLS)
	}
	c := cfg.Model(cfg.Check("welcome-asset"), "eu-london")
	if !c.CDN.RequireCaching || c.CDN.Method != "GET" || !c.CDN.FollowRedirects || c.CDN.SHA256 != strings.Repeat("ab", 32) {
		t.Fatalf("cdn defaults: %+v", c.CDN)
	}
	if m := cfg.Model(cfg.Check("redis"), "eu-london"); m.TCP.Send != "PING\r\n" {
		t.Fatalf("tcp: %+v", m.TCP)
	}
}

func TestKindBlocksAreChecked(t *testing.T) {
	src := minimal + `      - id: a
        kind: tcp
        tcp: {address: "no-port"}
      - id: b
        kind: dns
        dns: {name: "bad name..", type: AXFRX, protocol: quic}
      - id: c
        kind: tls
        tls: {address: "x:443", ca_file: missing.pem}
      - id: d
        kind: cdn
        cdn: {url: "https://cdn/x", sha256: "abc", expect_version: "2"}
      - id: e
        kind: http
        tcp: {address: "x:1"}
      - id: f
        kind: http
        http: {url: "http://x/", proxy: "ftp://proxy"}
`
	_, err := Parse(filepath.Join(t.TempDir(), "k.yaml"), []byte(src))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`:16: components[0].checks[1].tcp.address: "no-port" is not host:port`,
		`:19: components[0].checks[2].dns.name: "bad name.." is not a domain name`,
		`:19: components[0].checks[2].dns.type: "AXFRX" is not a DNS record type`,
		`:19: components[0].checks[2].dns.protocol: "quic" is not udp or tcp`,
		`:22: components[0].checks[3].tls.ca_file: cannot read`,
		`:25: components[0].checks[4].cdn.sha256: must be 64 hexadecimal digits`,
		`:25: components[0].checks[4].cdn.expect_version: needs version_header or version_json`,
		`:28: components[0].checks[5].tcp: a http check takes a http block, not tcp`,
		`:26: components[0].checks[5].http: a http check needs a http block`,
		`:31: components[0].checks[6].http.proxy: "ftp://proxy" is not an http, https or socks5 proxy URL`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in\n%s", want, err)
		}
	}
}

func TestSLOWindowsAndValidation(t *testing.T) {
	src := minimal + `slos:
  - {id: month, checks: [api-health], target: 99.95, window: calendar_month}
  - {id: rolling, checks: [api-health], target: 99.9}
  - {id: fast, checks: [api-health], sli: latency, threshold: 250ms, target: 99}
`
	cfg, err := Parse("slo.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	if from, to := cfg.SLO("month").WindowAt(now); !from.Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) || !to.Equal(now) {
		t.Fatalf("calendar month: %s to %s", from, to)
	}
	if from, _ := cfg.SLO("rolling").WindowAt(now); !from.Equal(now.Add(-30 * 24 * time.Hour)) {
		t.Fatalf("rolling default: %s", from)
	}
	if th := cfg.LatencyThresholds("api-health"); len(th) != 1 || th[0] != 250 {
		t.Fatalf("thresholds %v", th)
	}
	bad := minimal + `slos:
  - {id: a, checks: [nope], target: 100}
  - {id: b, checks: [api-health], target: 99, window: 3w}
  - {id: c, checks: [api-health], sli: latency, target: 99}
  - {id: d, checks: [api-health], sli: errors, target: 99}
  - {id: e, sli: events, target: 99}
  - {id: f, sli: events, target: 99, events: {push: {key: short}, prometheus: {url: "http://127.0.0.1:9090"}}}
  - {id: g, sli: events, target: 99, events: {push: {key: short}}}
  - {id: h, sli: events, target: 99, events: {prometheus: {url: "127.0.0.1:9090", good: "up"}}}
  - {id: i, checks: [api-health], target: 99, events: {push: {key: 0123456789abcdef0123}}}
maintenance:
  - {id: m, checks: [api-health], start: "2026-12-01T02:00:00Z", end: "2026-12-01T01:00:00Z"}
  - {id: n, components: [ghost], start: "tomorrow", end: "2026-12-01T01:00:00Z"}
`
	_, err = Parse("bad.yaml", []byte(bad))
	for _, want := range []string{
		`slos[0].checks[0]: unknown check "nope"`, "slos[0].target: 100 is not a percentage",
		`slos[1].window: "3w" is not a window`, "slos[2].threshold: a latency SLI needs a threshold",
		`slos[3].sli: "errors" is not availability, latency or events`, "maintenance[0].end: must be after start",
		"slos[4].events: an events SLI counts from one source: push or prometheus", "slos[5].events: an events SLI counts from one source",
		"slos[6].events.push.key: must be at least 16 characters", `slos[7].events.prometheus.url: "127.0.0.1:9090" is not an http(s) URL`,
		"slos[7].events.prometheus.valid: a PromQL query (at most 4096 bytes) of the valid events of a minute is needed",
		"slos[8].events: only an events SLI takes events",
		`maintenance[1].start: "tomorrow" is not an RFC 3339 time`, `maintenance[1].components[0]: unknown component "ghost"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestRecurringMaintenance(t *testing.T) {
	src := minimal + `maintenance:
  - {id: sunday-backup, reason: weekly backup, checks: [api-health], every: "0 2 * * SUN", duration: 90m, end: "2027-01-01T00:00:00Z"}
`
	cfg, err := Parse("m.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	sunday := time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		at   time.Time
		want bool
	}{
		{sunday.Add(-time.Minute), false},
		{sunday, true},
		{sunday.Add(89 * time.Minute), true},
		{sunday.Add(90 * time.Minute), false},
		{sunday.Add(7 * 24 * time.Hour).Add(time.Hour), true},
		{time.Date(2027, 1, 3, 2, 30, 0, 0, time.UTC), false}, // past the end of the recurrence
	} {
		if got := cfg.InMaintenance("api-health", tc.at); got != tc.want {
			t.Errorf("at %s: %v, want %v", tc.at, got, tc.want)
		}
	}
	occ := cfg.Maintenance[0].Occurrences(sunday.Add(-time.Hour), sunday.Add(15*24*time.Hour))
	if len(occ) != 3 || !occ[0].Start.Equal(sunday) || occ[0].End.Sub(occ[0].Start) != 90*time.Minute {
		t.Fatalf("occurrences %+v", occ)
	}
	if _, err := Parse("m.yaml", []byte(minimal+"maintenance:\n  - {id: x, checks: [api-health], every: \"0 2 * *\", duration: 10s}\n")); err == nil ||
		!strings.Contains(err.Error(), "maintenance[0].every") || !strings.Contains(err.Error(), "maintenance[0].duration") {
		t.Fatalf("bad recurrence: %v", err)
	}
}

// nats.deployment names a stream, subjects and a consumer: it must be a
// valid token of each.
func TestNATSDeployment(t *testing.T) {
	_, err := Parse("n.yaml", []byte(minimal+"nats: {deployment: \"prod.eu\"}\n"))
	if err == nil || !strings.Contains(err.Error(), `nats.deployment: "prod.eu" must be 1 to 32 letters, digits, '-' or '_'`) {
		t.Fatalf("bad name: %v", err)
	}
	cfg, err := Parse("n.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	scopes := cfg.NATSScopes()
	if len(scopes) != len(cfg.Probes.Tokens) || scopes[0] == "" || strings.Contains(scopes[0], cfg.Probes.Tokens[0].Token) {
		t.Fatalf("token scopes: %v", scopes)
	}
	cfg, err = Parse("n.yaml", []byte(minimal+"nats: {deployment: prod-eu}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.NATSScopes(); len(got) != 1 || got[0] != "prod-eu" {
		t.Fatalf("named scope: %v", got)
	}
}

// A cron check's period comes from its spec, parsed once at load.
func TestCronPeriodParsedAtLoad(t *testing.T) {
	cfg, err := Parse("t.yaml", []byte(minimal+`      - {id: hourly, kind: http, cron: "0 * * * *", http: {url: "http://127.0.0.1:9/"}}
`))
	if err != nil {
		t.Fatal(err)
	}
	ch := cfg.Check("hourly")
	if ch.cronPeriod != time.Hour || ch.Period() != time.Hour {
		t.Fatalf("cron period %s (parsed %s), want 1h", ch.Period(), ch.cronPeriod)
	}
	if p := cfg.Check("api-health").Period(); p != time.Minute {
		t.Fatalf("interval check period %s", p)
	}
	if p := (&Check{Cron: "*/5 * * * *"}).Period(); p != 5*time.Minute {
		t.Fatalf("a check not loaded by Parse: %s", p)
	}
}

// nines demo --jobs puts the publish pipeline in the demo: a heartbeat
// check, valid, with no warning.
func TestDemoWithJobs(t *testing.T) {
	raw := bytes.Replace(configs.Demo, configs.DemoJobsMarker, configs.DemoJobs, 1)
	if bytes.Equal(raw, configs.Demo) {
		t.Fatal("the marker is not in demo.yaml")
	}
	cfg, err := Parse(configs.DemoName, raw)
	if err != nil {
		t.Fatal(err)
	}
	ch := cfg.Check("publish-pipeline")
	if ch == nil || ch.Heartbeat == nil || len(cfg.Warnings) > 0 {
		t.Fatalf("publish-pipeline %+v, warnings %v", ch, cfg.Warnings)
	}
	if regions := cfg.CheckRegions(ch); len(regions) != 1 || regions[0] != model.PushRegion || cfg.CheckQuorum(ch) != 1 {
		t.Fatalf("regions %v quorum %d", regions, cfg.CheckQuorum(ch))
	}
}

// With a browser the demo gains the app page's browser check, in every
// region, with both its hard and its degrade assertions, and the renders
// SLO compares real users with it too.
func TestDemoWithABrowser(t *testing.T) {
	raw := configs.WithBrowser(configs.Demo)
	if !bytes.Contains(configs.Demo, configs.DemoBrowserMarker) || !bytes.Contains(configs.Demo, configs.DemoRendersChecks) {
		t.Fatal("a marker is not in demo.yaml")
	}
	cfg, err := Parse(configs.DemoName, raw)
	if err != nil {
		t.Fatal(err)
	}
	ch := cfg.Check("app-page")
	if ch == nil || ch.Browser == nil || len(cfg.CheckRegions(ch)) != 7 || len(ch.Degrade) != 2 || len(cfg.Warnings) > 0 {
		t.Fatalf("app-page %+v, warnings %v", ch, cfg.Warnings)
	}
	if slo := cfg.SLO("renders"); slo == nil || strings.Join(slo.Checks, ",") != "content-flow,app-page" {
		t.Fatalf("renders SLO beside %+v", slo)
	}
}

// A browser check's steps are checked one by one, each error naming its
// step and field; a good one reaches the probe in order.
func TestBrowserSteps(t *testing.T) {
	good := minimal + `      - id: home
        kind: browser
        browser:
          steps:
            - goto: "https://app.example.com/"
            - type: "#q"
              text: "status"
            - click: "#go"
            - expect_text: "h1"
              text: "Results"
            - read: "#slot"
              name: level
              attribute: data-level
        assert: ["browser.value.level == \"fresh\"", "browser.lcp < 2500ms", "browser.failed_hosts !contains \"cdn.example.com\""]
`
	cfg, err := Parse(filepath.Join(t.TempDir(), "b.yaml"), []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Model(cfg.Check("home"), "eu-london")
	want := []model.BrowserStep{{Action: "goto", URL: "https://app.example.com/"}, {Action: "type", Selector: "#q", Text: "status"},
		{Action: "click", Selector: "#go"}, {Action: "expect_text", Selector: "h1", Text: "Results"},
		{Action: "read", Selector: "#slot", Name: "level", Attribute: "data-level"}}
	if m.Browser == nil || !slices.Equal(m.Browser.Steps, want) {
		t.Fatalf("steps %+v", m.Browser)
	}
	bad := minimal + `      - id: home
        kind: browser
        browser:
          steps:
            - click: "#go"
            - goto: "file:///etc/passwd"
            - goto: "https://a/"
              click: "#b"
            - type: "#q"
            - read: "#slot"
              name: "Level!"
            - click: "#x"
              name: x
        assert: ["browser.speed < 2s", "browser.lcp < 2500"]
`
	_, err = Parse(filepath.Join(t.TempDir(), "b.yaml"), []byte(bad))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"browser.steps[0]: the first step is a goto",
		`browser.steps[1].goto: "file://REDACTED" is not an absolute http or https URL`,
		"browser.steps[2]: one action per step",
		"browser.steps[3].text: type needs the text",
		`browser.steps[4].name: "Level!": a read names its value`,
		"browser.steps[5]: only read takes a name and an attribute",
		"use browser.value.NAME or browser.FIELD",
		"browser.lcp compares with a duration",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in\n%s", want, err)
		}
	}
}
