package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nines-sre/nines/internal/testwait"
)

type result struct {
	Scheduled time.Time `json:"scheduled"`
	Probe     string    `json:"probe"`
}

func results(t *testing.T, base, check string, since time.Time) []result {
	t.Helper()
	var res struct{ Results []result }
	url := fmt.Sprintf("%s/api/v1/results?check=%s&region=eu-london&since=%s&limit=10000&order=oldest", base, check, since.UTC().Format(time.RFC3339Nano))
	if err := getJSON(url, &res); err != nil {
		t.Fatal(err)
	}
	return res.Results
}

// TestTwoProbesShareARegion: two probes in one region each run about half
// the checks; when one stops, the other takes them all over with no gap of
// more than two intervals in any check's results.
func TestTwoProbesShareARegion(t *testing.T) {
	const n = 40
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer target.Close()
	var cfg bytes.Buffer
	fmt.Fprintf(&cfg, "regions: [{id: eu-london}]\nquorum: 1\nprobes:\n  heartbeat_interval: 300ms\n  tokens: [{region: eu-london, token: shard-test-token-0001, probes: [probe-a, probe-b]}]\ncomponents:\n  - id: c\n    checks:\n")
	for i := range n {
		fmt.Fprintf(&cfg, "      - {id: check-%02d, kind: http, interval: 1s, timeout: 500ms, http: {url: %q}}\n", i, target.URL)
	}
	srv := inProcess(t, cfg.String())
	dir := t.TempDir()
	run := func(ctx context.Context, id string) chan error {
		return runProbe(ctx, srv.URL, "", "eu-london", id, "shard-test-token-0001", dir)
	}
	ctxA, stopA := context.WithCancel(context.Background())
	ctxB, stopB := context.WithCancel(context.Background())
	defer stopB()
	doneA, doneB := run(ctxA, "probe-a"), run(ctxB, "probe-b")

	// Settled: over the last three seconds, every check ran twice or more
	// and on one probe only.
	var owners map[string]int
	testwait.Eventually(t, 20*time.Second, "each check running on one probe", func() error {
		owners = map[string]int{}
		from := time.Now().Add(-3 * time.Second)
		for i := range n {
			byProbe, runs := map[string]int{}, 0
			for _, r := range results(t, srv.URL, fmt.Sprintf("check-%02d", i), from) {
				byProbe[r.Probe]++
				runs++
			}
			if len(byProbe) != 1 || runs < 2 {
				return fmt.Errorf("check-%02d ran on %v", i, byProbe)
			}
			for p := range byProbe {
				owners[p]++
			}
		}
		return nil
	})
	from := time.Now()
	t.Logf("split of %d checks: %v", n, owners)
	if owners["probe-a"] < n/4 || owners["probe-b"] < n/4 {
		t.Fatalf("uneven split %v", owners)
	}

	stopped := time.Now()
	stopA()
	if err := <-doneA; err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 20*time.Second, "probe-b running every check", func() error {
		for i := range n {
			id := fmt.Sprintf("check-%02d", i)
			if rs := results(t, srv.URL, id, stopped); len(rs) == 0 || rs[len(rs)-1].Probe != "probe-b" {
				return fmt.Errorf("%s: no newer result from probe-b", id)
			}
		}
		return nil
	})
	for i := range n {
		id := fmt.Sprintf("check-%02d", i)
		rs := results(t, srv.URL, id, from)
		for k := 1; k < len(rs); k++ {
			if gap := rs[k].Scheduled.Sub(rs[k-1].Scheduled); gap > 2*time.Second {
				t.Errorf("%s: gap of %s at %s (probe-a stopped at %s)", id, gap, rs[k-1].Scheduled.Format("15:04:05.000"), stopped.Format("15:04:05.000"))
			}
		}
	}
	stopB()
	<-doneB
}
