package controller

import (
	"crypto/sha256"
	"encoding/hex"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/nines-sre/nines/model"
)

// Assignment: each region's checks are split over its live probes by
// rendezvous hashing, so adding a probe moves only its share and losing one
// moves only the checks it had. A probe counts as live for the split while
// it has missed no more than one heartbeat; region health (for verdicts)
// is judged separately, by the configured number of missed heartbeats.

// liveFor is how long after its last heartbeat a probe keeps its checks.
func (c *Controller) liveFor() time.Duration {
	return c.Config().Probes.HeartbeatInterval.D() * 3 / 2
}

// liveProbes returns the sorted ids of the region's live probes, with self
// included: a probe asking for its assignment is alive.
func (c *Controller) liveProbes(region, self string) []string {
	ids := c.probes.live(region, c.now(), c.liveFor())
	if self != "" && !slices.Contains(ids, self) {
		ids = append(ids, self)
		slices.Sort(ids)
	}
	return ids
}

// owner picks the probe that runs check among probes: the highest score of
// hash(check, probe).
func owner(check string, probes []string) string {
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

// assignmentETag versions a probe's assignment: the configuration, the
// region, and the set of live probes it is shared with.
func (c *Controller) assignmentETag(region, probe string) string {
	live := c.liveProbes(region, probe)
	sum := sha256.Sum256([]byte(c.Config().Version + "/" + region + "/" + probe + "/" + strings.Join(live, ",")))
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}

// assignment returns the checks probe runs in region.
func (c *Controller) assignment(region, probe string) model.Assignment {
	cfg := c.Config()
	live := c.liveProbes(region, probe)
	a := model.Assignment{Version: c.assignmentETag(region, probe), Region: region, Checks: []model.Check{}, NATSScope: cfg.NATS.Deployment}
	for _, ch := range cfg.AllChecks() {
		if !slices.Contains(cfg.CheckRegions(ch), region) {
			continue
		}
		if probe == "" || owner(ch.ID, live) == probe {
			a.Checks = append(a.Checks, cfg.Model(ch, region))
		}
	}
	return a
}
