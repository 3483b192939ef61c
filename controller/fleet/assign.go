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
//
// Only probes that a token names (probes.tokens[].probes) share checks:
// the configuration vouches for them. A token that names no probes lets
// any id register, so an id it brings is taken on trust only as a
// standby: while no named probe of the region is live, the live probe
// registered longest (its tenure survives restarts and deregistration)
// runs all of the region's checks and the others wait. A token holder's
// made-up ids thus never take checks from a probe that heartbeats.

// liveFor is how long after its last heartbeat a probe keeps its checks.
func liveFor(cfg *config.Config) time.Duration {
	return cfg.Probes.HeartbeatInterval.D() * 3 / 2
}

// live returns the sorted ids of region's live probes at now, self
// included: a probe asking for its assignment is live.
func (g *Registry) live(cfg *config.Config, region, self string, now time.Time) []string {
	ids := g.Live(region, now, liveFor(cfg))
	if self != "" && !slices.Contains(ids, self) {
		ids = append(ids, self)
		slices.Sort(ids)
	}
	return ids
}

// sharers returns, of the live probes, the sorted ids of those that share
// the checks that need capability (none: "") at now: the named ones with
// it, or else the longest-registered one with it.
func (g *Registry) sharers(cfg *config.Config, live []string, capability string, now time.Time) []string {
	ids := slices.DeleteFunc(slices.Clone(live), func(id string) bool {
		return capability != "" && !g.Can(id, capability)
	})
	named := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return !cfg.NamedProbe(id) })
	if len(named) > 0 || len(ids) == 0 {
		return named
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	senior := ids[0]
	for _, id := range ids[1:] { // sorted: the earliest id wins a tie
		if g.since(id, now).Before(g.since(senior, now)) {
			senior = id
		}
	}
	return []string{senior}
}

// since is probe id's first sighting, or now for one never heard from.
// g.mu is held.
func (g *Registry) since(id string, now time.Time) time.Time {
	if t, ok := g.tenure[id]; ok {
		return t.first
	}
	return now
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
	capability := ""
	if ch := cfg.Check(check); ch != nil {
		capability = model.Kind(ch.Kind).Needs()
	}
	return Owner(check, g.sharers(cfg, g.live(cfg, region, "", now), capability, now))
}

// AssignmentETag versions a probe's assignment at now: the configuration,
// the region, and the set of live probes it is shared with.
func (g *Registry) AssignmentETag(cfg *config.Config, region, probe string, now time.Time) string {
	return etag(cfg, region, probe, g.allSharers(cfg, region, probe, now))
}

// allSharers are the sharers of region's checks by the capability they
// need ("" first).
func (g *Registry) allSharers(cfg *config.Config, region, probe string, now time.Time) map[string][]string {
	live := g.live(cfg, region, probe, now)
	out := map[string][]string{"": g.sharers(cfg, live, "", now)}
	for _, c := range model.Capabilities {
		out[c] = g.sharers(cfg, live, c, now)
	}
	return out
}

func etag(cfg *config.Config, region, probe string, sharers map[string][]string) string {
	h := sha256.New()
	h.Write([]byte(cfg.Version + "/" + region + "/" + probe + "/" + strings.Join(sharers[""], ",")))
	for _, c := range model.Capabilities {
		h.Write([]byte("/" + c + ":" + strings.Join(sharers[c], ",")))
	}
	return `"` + hex.EncodeToString(h.Sum(nil)[:8]) + `"`
}

// Assignment returns the checks probe runs in region at now; with no
// probe, every check of the region.
func (g *Registry) Assignment(cfg *config.Config, region, probe string, now time.Time) model.Assignment {
	sharers := g.allSharers(cfg, region, probe, now)
	a := model.Assignment{Version: etag(cfg, region, probe, sharers), Region: region, Checks: []model.Check{}, NATSScope: cfg.NATS.Deployment}
	for _, ch := range cfg.AllChecks() {
		if !slices.Contains(cfg.CheckRegions(ch), region) {
			continue
		}
		// A check that needs what no probe of the region has (a browser)
		// is run by none there: the region does not report it.
		if probe == "" || Owner(ch.ID, sharers[model.Kind(ch.Kind).Needs()]) == probe {
			a.Checks = append(a.Checks, cfg.Model(ch, region))
		}
	}
	return a
}
