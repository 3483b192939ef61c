package sla

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nines-sre/nines/model"
)

// The quorum rule is one function, Judge, over what each region says of a
// check at one instant. The live verdict asks it about now; Timeline asks
// it about every instant at which a result was scheduled or grew stale,
// with the results the live verdict had then, and a minute's verdict is
// read from that replay (Charged, MinuteSlice): so a page always has its
// down minutes, and a minute says what the live verdict said.

// Sample is one regional result as the quorum sees it.
type Sample struct {
	Region    string
	Scheduled time.Time
	Outcome   model.Outcome
	// ProbeProblem marks a result that says nothing of the target: its
	// region was unhealthy when it was scheduled, or the probe could reach
	// no controller and no other target when it failed.
	ProbeProblem bool
	// ContentHash and Version are what a CDN edge served, when known.
	ContentHash, Version string
	Duration             time.Duration
	// OnDemand marks a run a confirmation round asked for; Recovery, one
	// a recovery round asked for.
	OnDemand, Recovery bool
}

// BlipWindow is how long after a failure a confirmation round's runs are
// looked for: they are asked as the failure arrives and run at once.
const BlipWindow = time.Minute

// Blip reports whether samples[i] (samples sorted by scheduled time) is a
// failure a confirmation round did not confirm: a down result of a
// scheduled run, followed within BlipWindow, before its region's next
// scheduled run, by that region's own on-demand run that was not down,
// with no on-demand run of any region in that time down. A blip shows in
// its region's history and counts in no verdict.
func Blip(samples []Sample, i int) bool {
	s := &samples[i]
	if s.Outcome != model.OutcomeDown || s.OnDemand || s.ProbeProblem {
		return false
	}
	end := s.Scheduled.Add(BlipWindow)
	rerun := false
	for _, o := range samples[i+1:] {
		if !o.Scheduled.Before(end) {
			break
		}
		switch {
		case o.ProbeProblem, o.Recovery:
			// A recovery round's run answers the outage, not this failure.
		case !o.OnDemand:
			if o.Region == s.Region {
				end = o.Scheduled // the region's schedule ran before its re-run
			}
		case o.Outcome == model.OutcomeDown:
			return false
		case o.Region == s.Region:
			rerun = true
		}
	}
	return rerun
}

// DropBlips returns samples (sorted by scheduled time) without their
// blips, reusing its array.
func DropBlips(samples []Sample) []Sample {
	out := samples[:0]
	for i := range samples {
		if !Blip(samples, i) {
			out = append(out, samples[i])
		}
	}
	return out
}

// Tally counts what the regions of a check say at one instant.
type Tally struct {
	Reporting int // healthy regions with a fresh result that is no probe problem
	Failing   int // of those, down
	Degraded  int // of those, degraded
	Stale     int // of those, served other CDN content than most
}

// Speaks reports whether a region's newest result, scheduled at scheduled,
// speaks for the target at t: it is no probe problem, younger than fresh,
// and the region is healthy at t.
func Speaks(scheduled time.Time, probeProblem bool, t time.Time, fresh time.Duration, healthyNow bool) bool {
	return healthyNow && !probeProblem && t.Sub(scheduled) < fresh
}

// Counter tallies what the regions of a check say at one instant, for
// the live verdict and its replay alike.
type Counter struct {
	tally Tally
	edges map[string]Edge
}

// Add counts one reporting region's outcome, and the CDN content it was
// served when known.
func (c *Counter) Add(region string, o model.Outcome, hash, version string) {
	c.tally.Reporting++
	switch o {
	case model.OutcomeDown:
		c.tally.Failing++
	case model.OutcomeDegraded:
		c.tally.Degraded++
	}
	if hash != "" {
		if c.edges == nil {
			c.edges = map[string]Edge{}
		}
		c.edges[region] = Edge{hash, version}
	}
}

// Tally returns the count, with the regions served stale content
// (StaleEdges).
func (c *Counter) Tally() (Tally, []string) {
	stale := StaleEdges(c.edges)
	t := c.tally
	t.Stale = len(stale)
	return t, stale
}

// ReasonStale is Judge's reason when only stale edges make a check
// degraded.
const ReasonStale = "stale edge: some regions were served other content than most"

// Judge applies the quorum rule: down when at least quorum regions fail;
// unknown when fewer than quorum regions report (silence is never
// downtime); degraded when some, but fewer than quorum, fail, serve worse
// than they should or serve stale content; up otherwise. The reason says
// why in words for the status API.
func Judge(t Tally, quorum int) (model.Status, string) {
	switch {
	case t.Failing >= quorum:
		return model.StatusDown, "confirmed down by quorum"
	case t.Reporting < quorum:
		return model.StatusUnknown, "too few healthy regions reported"
	case t.Failing > 0:
		return model.StatusDegraded, "failing in fewer regions than the quorum"
	case t.Degraded > 0:
		return model.StatusDegraded, "served worse than it should in some regions"
	case t.Stale > 0:
		return model.StatusDegraded, ReasonStale
	}
	return model.StatusUp, ""
}

// Edge is the content one region was served.
type Edge struct{ Hash, Version string }

// StaleEdges returns, sorted, the regions whose edge served other content
// than the most common one. With a tie the content of the highest version
// wins, so an edge behind a publish is the one called stale.
func StaleEdges(edges map[string]Edge) []string {
	type seen struct {
		n       int
		version string
	}
	counts := map[string]*seen{}
	for _, e := range edges {
		if e.Hash == "" {
			continue
		}
		if counts[e.Hash] == nil {
			counts[e.Hash] = &seen{version: e.Version}
		}
		counts[e.Hash].n++
	}
	if len(counts) < 2 {
		return nil
	}
	best, bestSeen := "", &seen{}
	for h, c := range counts {
		if c.n > bestSeen.n || (c.n == bestSeen.n && (versionLess(bestSeen.version, c.version) || (c.version == bestSeen.version && h > best))) {
			best, bestSeen = h, c
		}
	}
	var stale []string
	for region, e := range edges {
		if e.Hash != "" && e.Hash != best {
			stale = append(stale, region)
		}
	}
	sort.Strings(stale)
	return stale
}

// versionLess orders versions numerically when both are numbers.
func versionLess(a, b string) bool {
	x, errA := strconv.ParseFloat(strings.TrimPrefix(a, "v"), 64)
	y, errB := strconv.ParseFloat(strings.TrimPrefix(b, "v"), 64)
	if errA == nil && errB == nil {
		return x < y
	}
	return a < b
}

// HealthyAt tells whether a region's probes were heard from at t.
type HealthyAt func(region string, t time.Time) bool

// Instant tallies what regions say at t: each region's newest sample
// scheduled at or before t counts when it is younger than fresh, is no
// probe problem and its region is healthy at t. newest maps each region to
// that sample (nil: none).
func Instant(newest map[string]*Sample, t time.Time, fresh time.Duration, healthy HealthyAt) Tally {
	var c Counter
	for region, s := range newest {
		if s != nil && Speaks(s.Scheduled, s.ProbeProblem, t, fresh, healthy(region, t)) {
			c.Add(region, s.Outcome, s.ContentHash, s.Version)
		}
	}
	tl, _ := c.Tally()
	return tl
}

// Piece is a stretch of time over which the live verdict held one status.
type Piece struct {
	From, To time.Time
	Status   model.Status
}

// Timeline replays the live verdict over [from, to): it is judged at from,
// at every sample scheduled in between and whenever a sample grows older
// than fresh. samples must be sorted by scheduled time and include every
// sample from fresh before from. Consecutive pieces differ in status.
func Timeline(samples []Sample, from, to time.Time, quorum int, fresh time.Duration, healthy HealthyAt) []Piece {
	newest := map[string]*Sample{}
	i := 0
	for ; i < len(samples) && !samples[i].Scheduled.After(from); i++ {
		newest[samples[i].Region] = &samples[i]
	}
	var expiries []time.Time
	for k := range samples {
		if e := samples[k].Scheduled.Add(fresh); e.After(from) && e.Before(to) {
			expiries = append(expiries, e)
		}
	}
	sort.Slice(expiries, func(a, b int) bool { return expiries[a].Before(expiries[b]) })
	var out []Piece
	judge := func(t time.Time) {
		st, _ := Judge(Instant(newest, t, fresh, healthy), quorum)
		if n := len(out); n > 0 && out[n-1].Status == st {
			return
		}
		if n := len(out); n > 0 {
			out[n-1].To = t
		}
		out = append(out, Piece{From: t, Status: st})
	}
	judge(from)
	e := 0
	for {
		var t time.Time
		switch {
		case i < len(samples) && samples[i].Scheduled.Before(to) && (e >= len(expiries) || !expiries[e].Before(samples[i].Scheduled)):
			t = samples[i].Scheduled
		case e < len(expiries):
			t = expiries[e]
		default:
			out[len(out)-1].To = to
			return out
		}
		for ; i < len(samples) && !samples[i].Scheduled.After(t) && samples[i].Scheduled.Before(to); i++ {
			newest[samples[i].Region] = &samples[i]
		}
		for ; e < len(expiries) && !expiries[e].After(t); e++ {
		}
		judge(t)
	}
}

// Held is how long each status held in one minute.
type Held struct {
	Down, Degraded, Up time.Duration
}

// HeldByMinute adds up, for every minute in [from, to), how long the
// pieces held each status.
func HeldByMinute(pieces []Piece, from, to Minute) map[Minute]Held {
	out := make(map[Minute]Held, int(to-from))
	for _, p := range pieces {
		for m := max(MinuteOf(p.From), from); m < to && m.Time().Before(p.To); m++ {
			a, b := p.From, p.To
			if s := m.Time(); a.Before(s) {
				a = s
			}
			if e := m.Time().Add(time.Minute); b.After(e) {
				b = e
			}
			if b.Sub(a) <= 0 {
				continue
			}
			h := out[m]
			switch p.Status {
			case model.StatusDown:
				h.Down += b.Sub(a)
			case model.StatusDegraded:
				h.Degraded += b.Sub(a)
			case model.StatusUp:
				h.Up += b.Sub(a)
			}
			out[m] = h
		}
	}
	return out
}

// Charged returns the minutes that the down pieces are charged to: each
// minute whose middle the check was down at, so an outage is charged its
// length rounded to whole minutes (ten minutes straddling eleven are ten);
// an outage that holds no minute's middle, however short, is charged to the
// minute that holds most of it (the earlier on a tie), so a confirmed
// outage always has its down minute.
func Charged(pieces []Piece) map[Minute]bool {
	out := map[Minute]bool{}
	for i := 0; i < len(pieces); i++ {
		if pieces[i].Status != model.StatusDown {
			continue
		}
		from, to := pieces[i].From, pieces[i].To
		for i+1 < len(pieces) && pieces[i+1].Status == model.StatusDown && pieces[i+1].From.Equal(to) {
			i++
			to = pieces[i].To
		}
		any := false
		for m := MinuteOf(from); m.Time().Before(to); m++ {
			if mid := m.Time().Add(30 * time.Second); !mid.Before(from) && mid.Before(to) {
				out[m] = true
				any = true
			}
		}
		if !any {
			best, most := MinuteOf(from), time.Duration(0)
			for m := MinuteOf(from); m.Time().Before(to); m++ {
				a, b := Latest(from, m.Time()), Earliest(to, m.Time().Add(time.Minute))
				if d := b.Sub(a); d > most {
					best, most = m, d
				}
			}
			out[best] = true
		}
	}
	return out
}

// MinuteSlice is the verdict of a minute from how long each status held in
// it and whether a confirmed outage is charged to it (Charged): down when
// charged; otherwise degraded when the check was down or degraded at any
// time in it, up when it was up at any time, and unknown when nothing was
// known.
func MinuteSlice(h Held, charged bool) Slice {
	switch {
	case charged:
		return SliceDown
	case h.Down > 0 || h.Degraded > 0:
		return SliceDegraded
	case h.Up > 0:
		return SliceUp
	}
	return SliceUnknown
}

// Earliest is the earlier of two times.
func Earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// Latest is the later of two times.
func Latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// LatencyEvents counts the latency occurrences of minute m: the results
// scheduled in it that are no probe problem; one is bad when it was down
// or not faster than limit. A lone region is no more able to spend the
// budget here than in the availability verdict: unless at least quorum
// regions had a bad result in the minute, every result of the minute
// counts as good.
func LatencyEvents(samples []Sample, m Minute, quorum int, limit time.Duration) Events {
	start, end := m.Time(), m.Time().Add(time.Minute)
	var e Events
	slow := map[string]bool{}
	for _, s := range samples {
		if s.Scheduled.Before(start) || !s.Scheduled.Before(end) || s.ProbeProblem {
			continue
		}
		e.Total++
		if s.Outcome == model.OutcomeUp && s.Duration < limit {
			e.Good++
		} else {
			slow[s.Region] = true
		}
	}
	if len(slow) < quorum {
		e.Good = e.Total
	}
	return e
}
