package live

import (
	"testing"
	"time"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/model"
)

const testConfig = `regions: [{id: eu-london}, {id: eu-frankfurt}, {id: ap-tokyo}]
defaults: {interval: 1m, timeout: 5s}
probes:
  tokens: [{region: eu-london, token: london-token-0123456789}]
components:
  - id: api
    checks:
      - {id: api-health, kind: http, http: {url: "http://127.0.0.1:9/health"}}
`

// verdictFixture is the test configuration, its api-health check (run in
// three regions), a fixed now, and all three regions healthy.
func verdictFixture(t *testing.T) (*config.Config, *config.Check, time.Time, map[string]bool) {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	return cfg, cfg.Check("api-health"), time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC),
		map[string]bool{"eu-london": true, "eu-frankfurt": true, "ap-tokyo": true}
}

func TestQuorumVerdicts(t *testing.T) {
	cfg, ch, now, all := verdictFixture(t)
	for _, tc := range []struct {
		name    string
		results map[string]model.Outcome
		age     time.Duration
		healthy map[string]bool
		want    model.Status
	}{
		{"all up", map[string]model.Outcome{"eu-london": "up", "eu-frankfurt": "up", "ap-tokyo": "up"}, 0, all, model.StatusUp},
		{"one region fails", map[string]model.Outcome{"eu-london": "up", "eu-frankfurt": "down", "ap-tokyo": "up"}, 0, all, model.StatusDegraded},
		{"quorum fails", map[string]model.Outcome{"eu-london": "down", "eu-frankfurt": "down", "ap-tokyo": "up"}, 0, all, model.StatusDown},
		{"all fail", map[string]model.Outcome{"eu-london": "down", "eu-frankfurt": "down", "ap-tokyo": "down"}, 0, all, model.StatusDown},
		{"failing regions unhealthy", map[string]model.Outcome{"eu-london": "down", "eu-frankfurt": "down", "ap-tokyo": "up"}, 0,
			map[string]bool{"ap-tokyo": true}, model.StatusUnknown},
		{"one report only", map[string]model.Outcome{"ap-tokyo": "up"}, 0, all, model.StatusUnknown},
		{"stale results", map[string]model.Outcome{"eu-london": "down", "eu-frankfurt": "down", "ap-tokyo": "down"}, 3 * time.Minute, all, model.StatusUnknown},
		{"nothing yet", nil, 0, all, model.StatusUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLatest()
			for region, o := range tc.results {
				l.Offer(model.Result{Check: ch.ID, Region: region, Scheduled: now.Add(-tc.age), Outcome: o})
			}
			if v := Judge(cfg, ch, l, tc.healthy, now, nil); v.Status != tc.want {
				t.Fatalf("verdict %s (%s), want %s", v.Status, v.Reason, tc.want)
			}
		})
	}
}

func TestLatestKeepsTheNewest(t *testing.T) {
	l := NewLatest()
	t0 := time.Unix(1000, 0)
	l.Offer(model.Result{Check: "c", Region: "r", Scheduled: t0, Outcome: model.OutcomeDown})
	l.Offer(model.Result{Check: "c", Region: "r", Scheduled: t0.Add(-time.Minute), Outcome: model.OutcomeUp}) // a late backfill
	l.Regions("c", func(m map[string]*model.Result) {
		if r := m["r"]; r == nil || r.Outcome != model.OutcomeDown {
			t.Fatal("a backfilled older result replaced the newest")
		}
	})
}

func TestStaleEdgeIsFlagged(t *testing.T) {
	cfg, ch, now, all := verdictFixture(t)
	served := func(hashes map[string][2]string) *Latest {
		l := NewLatest()
		for region, hv := range hashes {
			l.Offer(model.Result{Check: ch.ID, Region: region, Scheduled: now, Outcome: model.OutcomeUp,
				Edge: &model.Edge{ContentHash: hv[0], Version: hv[1]}})
		}
		return l
	}
	v := Judge(cfg, ch, served(map[string][2]string{"eu-london": {"h2", "2"}, "eu-frankfurt": {"h1", "1"}, "ap-tokyo": {"h2", "2"}}), all, now, nil)
	if v.Status != model.StatusDegraded || len(v.StaleRegions) != 1 || v.StaleRegions[0] != "eu-frankfurt" || !v.Regions["eu-frankfurt"].Stale {
		t.Fatalf("frankfurt behind: %+v", v)
	}
	// Two regions, one each: the edge serving the older version is stale.
	two := map[string]bool{"eu-london": true, "ap-tokyo": true}
	v = Judge(cfg, ch, served(map[string][2]string{"eu-london": {"hb", "9"}, "ap-tokyo": {"ha", "10"}}), two, now, nil)
	if len(v.StaleRegions) != 1 || v.StaleRegions[0] != "eu-london" {
		t.Fatalf("tie: %+v", v.StaleRegions)
	}
	v = Judge(cfg, ch, served(map[string][2]string{"eu-london": {"h", "2"}, "eu-frankfurt": {"h", "2"}, "ap-tokyo": {"h", "2"}}), all, now, nil)
	if v.Status != model.StatusUp || len(v.StaleRegions) != 0 {
		t.Fatalf("same content everywhere: %+v", v)
	}
}
