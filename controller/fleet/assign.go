package fleet

import (
	"crypto/sha256"
	"encoding/hex"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/model"
)

// Assignment: each region's checks are split over its live probes by
// rendezvous hashing, so adding a probe moves only its share and losing one
// moves only the checks it had. A probe counts as live for the split while
// it has missed no more than one heartbeat; region health (for verdicts)
// is judged separately, by the configured number of missed heartbeats.

// liveFor is how long after its last heartbeat a probe keeps its checks.
func liveFor(cfg *config.Config) time.Duration {
	return cfg.Probes.HeartbeatInterval.D() * 3 / 2
}

// liveProbes returns the sorted ids of the region's live probes at now,
// with self included: a probe asking for its assignment is alive.
func (g *Registry) liveProbes(cfg *config.Config, region, self string, now time.Time) []string {
	ids := g.Live(region, now, liveFor(cfg))
	if self != "" && !slices.Contains(ids, self) {
		ids = append(ids, self)
		slices.Sort(ids)
	}
	return ids
}

// Owner picks the probe that runs check among probes: the highest score of
// hash(check, probe).
func Owner(check string, probes []string) string {
	best, bestScore := "", uint64(0)
	for _, p := range probes {
		h := fnv.New64a()
		h.Write([]byte(check))
		h.Write([]byte{0})
		h.Write([]byte(p))
		if s := mix(h.Sum64()); best == "" || s > bestScore {
			best, bestScore = p, s
		}
	}
	return best
}

// mix spreads FNV's output (a finaliser from MurmurHash3), so that scores of
// similar strings do not correlate.
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// OwnerOf is the probe of region that runs check at now ("" when none is
// live).
func (g *Registry) OwnerOf(cfg *config.Config, check, region string, now time.Time) string {
	return Owner(check, g.liveProbes(cfg, region, "", now))
}

// AssignmentETag versions a probe's assignment at now: the configuration,
// the region, and the set of live probes it is shared with.
func (g *Registry) AssignmentETag(cfg *config.Config, region, probe string, now time.Time) string {
	return etag(cfg, region, probe, g.liveProbes(cfg, region, probe, now))
}

func etag(cfg *config.Config, region, probe string, live []string) string {
	sum := sha256.Sum256([]byte(cfg.Version + "/" + region + "/" + probe + "/" + strings.Join(live, ",")))
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}

// Assignment returns the checks probe runs in region at now; with no
// probe, every check of the region.
func (g *Registry) Assignment(cfg *config.Config, region, probe string, now time.Time) model.Assignment {
	live := g.liveProbes(cfg, region, probe, now)
	a := model.Assignment{Version: etag(cfg, region, probe, live), Region: region, Checks: []model.Check{}, NATSScope: cfg.NATS.Deployment}
	for _, ch := range cfg.AllChecks() {
		if !slices.Contains(cfg.CheckRegions(ch), region) {
			continue
		}
		if probe == "" || Owner(ch.ID, live) == probe {
			a.Checks = append(a.Checks, cfg.Model(ch, region))
		}
	}
	return a
}
