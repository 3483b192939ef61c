// Package docs holds README to what the binaries do.
package docs

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/contentsvc"
	"github.com/nines-sre/nines/controller"
	"github.com/nines-sre/nines/probe"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const cfgYAML = `regions: [{id: eu-london}]
quorum: 1
probes:
  tokens: [{region: eu-london, token: docs-test-token-000001}]
components:
  - id: web
    checks: [{id: home, kind: http, interval: 1s, timeout: 500ms, http: {url: "%s/healthz"}}]
slos:
  - {id: home-availability, checks: [home], target: 99.9}
`

// served runs contentsvc, a controller and a probe in this process, each
// on a registry of its own with the Go runtime's and the process's
// collectors (as the binaries have), lets the probe run its check a few
// times, and returns the three registries by name.
func served(t *testing.T) map[string]*prometheus.Registry {
	t.Helper()
	regs := map[string]*prometheus.Registry{}
	for _, name := range []string{"controller", "probe", "contentsvc"} {
		r := prometheus.NewRegistry()
		r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		regs[name] = r
	}
	cs, err := contentsvc.New(contentsvc.Options{DataDir: t.TempDir(), Logger: quiet, Registry: regs["contentsvc"]})
	if err != nil {
		t.Fatal(err)
	}
	csSrv := httptest.NewServer(cs.Handler())
	t.Cleanup(csSrv.Close)
	cfg, err := config.Parse("docs.yaml", []byte(strings.Replace(cfgYAML, "%s", csSrv.URL, 1)))
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := controller.New(context.Background(), controller.Options{Config: cfg, DataDir: t.TempDir(), Logger: quiet, Registry: regs["controller"]})
	if err != nil {
		t.Fatal(err)
	}
	ctlSrv := httptest.NewServer(ctl.Handler())
	t.Cleanup(func() { ctlSrv.Close(); ctl.Close() })
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- probe.Run(ctx, probe.Options{Region: "eu-london", ProbeID: "docs-probe", Controller: ctlSrv.URL, Token: "docs-test-token-000001",
			SpoolPath: filepath.Join(t.TempDir(), "spool.db"), Logger: quiet, Registry: regs["probe"]})
	}()
	t.Cleanup(func() { stop(); <-done })
	// A few results shipped: the series that count them exist.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(ctlSrv.URL + "/api/v1/results?check=home&limit=3")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Count(string(body), `"scheduled"`) >= 3 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the probe shipped no three results in 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return regs
}

var descRE = regexp.MustCompile(`fqName: "([^"]+)".*constLabels: \{([^}]*)\}, variableLabels: \{([^}]*)\}`)

// families returns every metric registry registers (observed or not),
// with its label names.
func families(reg *prometheus.Registry) map[string][]string {
	ch := make(chan *prometheus.Desc, 64)
	go func() { reg.Describe(ch); close(ch) }()
	out := map[string][]string{}
	for d := range ch {
		m := descRE.FindStringSubmatch(d.String())
		if m == nil {
			continue
		}
		var labels []string
		for _, part := range []string{m[2], m[3]} {
			for _, l := range strings.Split(part, ",") {
				if l = strings.TrimSpace(l); l != "" {
					labels = append(labels, strings.SplitN(l, "=", 2)[0])
				}
			}
		}
		out[m[1]] = labels
	}
	return out
}

var readmeMetric = regexp.MustCompile("`((?:nines|contentsvc)_[a-z0-9_]+)(?:\\{([a-z_,]*)\\})?`")

// TestREADMEMetricsAreServed: every metric README names, with the labels
// it gives them, is registered by the binary it belongs to; and
// the three /metrics pass promtool's lint (promtool check metrics).
func TestREADMEMetricsAreServed(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	regs := served(t)
	known := map[string][][]string{} // a name may be served by two binaries, with labels of each
	for _, reg := range regs {
		for name, labels := range families(reg) {
			known[name] = append(known[name], labels)
		}
	}
	named := readmeMetric.FindAllStringSubmatch(string(readme), -1)
	if len(named) < 30 {
		t.Fatalf("README names %d metrics; the pattern no longer finds them", len(named))
	}
	for _, m := range named {
		name, labels := m[1], m[2]
		have, ok := known[name]
		if !ok {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, cut := strings.CutSuffix(name, suffix); cut {
					have, ok = known[base]
				}
			}
		}
		if !ok {
			t.Errorf("README names %s, which no binary serves", m[0])
			continue
		}
		if labels == "" {
			continue
		}
		if !slices.ContainsFunc(have, func(set []string) bool {
			return !slices.ContainsFunc(strings.Split(labels, ","), func(l string) bool { return !slices.Contains(set, l) })
		}) {
			t.Errorf("README gives %s labels it does not have: %v", m[0], have)
		}
	}
	for name, reg := range regs {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !slices.ContainsFunc(mfs, func(f *dto.MetricFamily) bool { return f.GetName() == "process_cpu_seconds_total" }) {
			t.Errorf("%s: no process_cpu_seconds_total", name)
		}
		problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, p := range problems {
			t.Errorf("%s /metrics: %s: %s", name, p.Metric, p.Text)
		}
	}
}
