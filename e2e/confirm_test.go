package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nines-sre/nines/internal/testwait"
)

// TestFailureIsConfirmedOnDemand: a check every 30 s, three regions
// taking turns every 10 s, shipping results by HTTP and by NATS (the
// long-poll is the probe API's either way). When the target fails, the first region's scheduled failure asks every
// region to run the check at once: the check is down within seconds of
// that failure, not at the next regions' turns, and the runs asked for are
// stored as on-demand results.
func TestFailureIsConfirmedOnDemand(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	t.Parallel()
	for _, transport := range []string{"http", "nats"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			confirmedOnDemand(t, transport == "nats")
		})
	}
}

func confirmedOnDemand(t *testing.T, viaNATS bool) {
	var failing atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "broken", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer target.Close()
	regions := []string{"eu-london", "us-ohio", "ap-tokyo"}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "regions: [{id: eu-london}, {id: us-ohio}, {id: ap-tokyo}]\nquorum: 2\nprobes:\n  heartbeat_interval: 1s\n  tokens:\n")
	for _, r := range regions {
		fmt.Fprintf(&cfg, "    - {region: %s, token: confirm-token-%s}\n", r, r)
	}
	fmt.Fprintf(&cfg, "components:\n  - id: c\n    checks:\n      - {id: api, kind: http, interval: 30s, timeout: 2s, http: {url: %q}}\n", target.URL)
	var base, natsURL string
	if viaNATS {
		var scopes []string
		for _, r := range regions {
			scopes = append(scopes, tokenScope("confirm-token-"+r))
		}
		natsURL = natsServer(t, scopes...)
		base = inProcessNATS(t, cfg.String(), natsURL)
	} else {
		base = inProcess(t, cfg.String()).URL
	}
	ctx, stop := context.WithCancel(context.Background())
	dir := t.TempDir()
	done := make(chan error, len(regions))
	for _, r := range regions {
		go func() { done <- <-runProbe(ctx, base, natsURL, r, "p-"+r, "confirm-token-"+r, dir) }()
	}
	defer func() {
		stop()
		for range regions {
			<-done
		}
	}()
	ctlAddr := strings.TrimPrefix(base, "http://")
	waitFor(t, ctlAddr, "api up in three regions", 60*time.Second, func(s *status) bool { return allUp(s, []string{"api"}, regions) })

	failing.Store(true)
	broke := time.Now()
	// The first scheduled failure comes within 10 s (the regions take
	// turns); the confirmation follows at once, before the next turn.
	var first time.Time
	testwait.Eventually(t, 30*time.Second, "a region's scheduled failure", func() error {
		var res struct {
			Results []struct {
				Scheduled time.Time `json:"scheduled"`
				Outcome   string    `json:"outcome"`
				OnDemand  bool      `json:"on_demand"`
			} `json:"results"`
		}
		if err := getJSON(base+"/api/v1/results?check=api&order=oldest&since="+broke.UTC().Format(time.RFC3339Nano), &res); err != nil {
			return err
		}
		for _, r := range res.Results {
			if r.Outcome == "down" && !r.OnDemand {
				first = r.Scheduled
				return nil
			}
		}
		return fmt.Errorf("%d results since", len(res.Results))
	})
	s := waitFor(t, ctlAddr, "api down", 15*time.Second, func(s *status) bool { return s.Check("api").Status == "down" })
	took := time.Since(first)
	t.Logf("first scheduled failure %s after the break; down %s after it", first.Sub(broke).Round(time.Millisecond), took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("down %s after the first failure: the other regions' turns, not a confirmation", took)
	}
	onDemand := 0
	var res struct {
		Results []struct {
			OnDemand bool `json:"on_demand"`
		} `json:"results"`
	}
	getJSON(base+"/api/v1/results?check=api&since="+broke.UTC().Format(time.RFC3339Nano), &res)
	for _, r := range res.Results {
		if r.OnDemand {
			onDemand++
		}
	}
	if onDemand < 2 {
		t.Errorf("%d on-demand results, want the quorum's at least; status %+v", onDemand, s.Check("api"))
	}
}
