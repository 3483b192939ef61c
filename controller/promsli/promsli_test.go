package promsli

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/sla"
	"github.com/nines-sre/nines/controller/store/sqlite/sqlitetest"
	"github.com/nines-sre/nines/internal/promtest"
)

const minimal = `regions: [{id: eu-london}, {id: ap-tokyo}]
probes: {tokens: [{region: eu-london, token: london-token-0123456789}, {region: ap-tokyo, token: tokyo-token-0123456789}]}
components:
  - id: api
    checks: [{id: api-health, kind: http, http: {url: "http://127.0.0.1:9/"}}]
slos:
`

func parse(t *testing.T, slos string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("nines.yaml", []byte(minimal+slos))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// renders writes two hours of a renders_total counter in OpenMetrics,
// sampled every 15 s from t0: 240 fresh renders a minute throughout, and
// 10 empty ones a minute over the last 30 minutes.
func renders(t0 time.Time) string {
	var b strings.Builder
	b.WriteString("# TYPE renders counter\n")
	for _, level := range []string{"fresh", "empty"} {
		v := 0.0
		for i := 0; i <= 2*3600/15; i++ {
			fmt.Fprintf(&b, "renders_total{level=%q} %g %d\n", level, v, t0.Unix()+int64(i*15))
			switch {
			case level == "fresh":
				v += 60
			case i*15 >= 90*60:
				v += 2.5
			}
		}
	}
	b.WriteString("# EOF\n")
	return b.String()
}

// startPrometheus runs Debian's prometheus on a TSDB made by promtool
// from data, on loopback; it returns its URL.
func startPrometheus(t *testing.T, data string) string {
	t.Helper()
	promtest.Need(t, "prometheus", "promtool")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "data.om"), []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("promtool", "tsdb", "create-blocks-from", "openmetrics", filepath.Join(dir, "data.om"), filepath.Join(dir, "tsdb")).CombinedOutput(); err != nil {
		t.Fatalf("promtool: %v\n%s", err, out)
	}
	return promtest.Start(t, "global: {scrape_interval: 15s}\n", filepath.Join(dir, "tsdb"))
}

// The counts of an events SLO are what the real Prometheus answers per
// minute; a second read adds nothing; a failing SLO leaves the others.
func TestCountsFromPrometheus(t *testing.T) {
	t0 := time.Now().Add(-6 * time.Hour).Truncate(time.Hour)
	url := startPrometheus(t, renders(t0))
	cfg := parse(t, fmt.Sprintf(`  - id: renders
    target: 99
    sli: events
    events:
      prometheus:
        url: %s
        good: sum(increase(renders_total{level=~"fresh|cached"}[1m]))
        valid: sum(increase(renders_total[1m]))
  - id: broken
    target: 99
    sli: events
    events:
      prometheus: {url: %[1]s, good: "sum(", valid: "sum(increase(renders_total[1m]))"}
`, url))
	st := sqlitetest.Open(t)
	now := t0.Add(2*time.Hour + 5*time.Minute + 30*time.Second)
	var failed []string
	src := New(Options{Store: st, Config: func() *config.Config { return cfg }, Now: func() time.Time { return now },
		Failed: func(slo string) { failed = append(failed, slo) }})
	ctx := context.Background()
	err := src.Poll(ctx)
	if err == nil || !strings.Contains(err.Error(), "slo broken: events.prometheus.good: bad_data") || len(failed) != 1 || failed[0] != "broken" {
		t.Fatalf("a bad query: %v, failed %v", err, failed)
	}
	m0 := sla.MinuteOf(t0)
	check := func(what string, from, to sla.Minute, good, valid int) {
		t.Helper()
		e, _, err := st.SLOEvents(ctx, "renders", from, to)
		if err != nil || e.Good != good || e.Total != valid {
			t.Fatalf("%s: %+v %v, want %d good of %d", what, e, err, good, valid)
		}
	}
	check("the first hour", m0, m0+60, 60*240, 60*240)
	check("the last half hour", m0+90, m0+120, 30*240, 30*250)
	check("the two hours", m0-CatchUp, m0+200, 120*240, 120*240+300)
	// Minutes due are read up to a minute (the delay) before now; those
	// past the data are counted as none.
	if _, newest, _ := st.SLOEvents(ctx, "renders", m0, m0+200); newest != m0+123 {
		t.Fatalf("newest minute read %d, want %d", newest-m0, 123)
	}
	// Read again: nothing is counted twice.
	if err := src.Poll(ctx); err == nil {
		t.Fatal("the broken SLO read")
	}
	check("read twice", m0-CatchUp, m0+200, 120*240, 120*240+300)
}

// A server that cannot be reached fails the read, naming the SLO and
// the query, and stores nothing.
func TestUnreachablePrometheus(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := parse(t, `  - id: renders
    target: 99
    sli: events
    events: {prometheus: {url: "http://`+addr+`", good: "a", valid: "b"}}
`)
	st := sqlitetest.Open(t)
	src := New(Options{Store: st, Config: func() *config.Config { return cfg }})
	err = src.Poll(context.Background())
	if err == nil || !strings.Contains(err.Error(), "slo renders: events.prometheus.good: ") {
		t.Fatalf("unreachable: %v", err)
	}
	if e, newest, _ := st.SLOEvents(context.Background(), "renders", 0, sla.MinuteOf(time.Now())+1); e.Total != 0 || newest != 0 {
		t.Fatalf("stored %+v up to %d", e, newest)
	}
}
