package sla

import (
	"testing"
	"time"

	"github.com/nines-sre/nines/model"
)

var (
	t0       = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	always   = func(string, time.Time) bool { return true }
	fresh60s = 2*time.Minute + 10*time.Second
)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

func s(region string, sec int, o model.Outcome) Sample {
	return Sample{Region: region, Scheduled: at(sec), Outcome: o}
}

// minutes replays samples and returns the slices of the minutes [0, n)
// from t0.
func minutes(t *testing.T, samples []Sample, quorum int, healthy HealthyAt, n int) []Slice {
	t.Helper()
	from, to := MinuteOf(t0)-1, MinuteOf(t0)+Minute(n)+1
	pieces := Timeline(samples, from.Time(), to.Time(), quorum, fresh60s, healthy)
	held, charged := HeldByMinute(pieces, from, to), Charged(pieces)
	out := make([]Slice, n)
	for i := range out {
		m := MinuteOf(t0) + Minute(i)
		out[i] = MinuteSlice(held[m], charged[m])
	}
	return out
}

func TestJudgeIsTheQuorumRule(t *testing.T) {
	for _, tc := range []struct {
		tally Tally
		want  model.Status
	}{
		{Tally{Reporting: 7, Failing: 2}, model.StatusDown},
		{Tally{Reporting: 1, Failing: 1}, model.StatusUnknown},
		{Tally{Reporting: 7, Failing: 1}, model.StatusDegraded},
		{Tally{Reporting: 7, Degraded: 1}, model.StatusDegraded},
		{Tally{Reporting: 7, Stale: 1}, model.StatusDegraded},
		{Tally{Reporting: 2}, model.StatusUp},
	} {
		if got, _ := Judge(tc.tally, 2); got != tc.want {
			t.Errorf("Judge(%+v) = %s, want %s", tc.tally, got, tc.want)
		}
	}
}

// Two regions failing 8.6 s apart, either side of a minute boundary: the
// live verdict was down, so a minute is down.
func TestOutageAcrossAMinuteBoundaryIsChargedAMinute(t *testing.T) {
	var samples []Sample
	// Five regions up before the outage, two regions failing at :56 and
	// 1:04.6 (rounded), then everything up again from the next round.
	for i, r := range []string{"a", "b", "c", "d", "e"} {
		samples = append(samples, s(r, i*8, model.OutcomeUp), s(r, 60+i*8, model.OutcomeUp))
	}
	samples = append(samples, s("f", -4, model.OutcomeUp), s("g", 4, model.OutcomeUp),
		s("f", 56, model.OutcomeDown), s("g", 64, model.OutcomeDown), s("f", 116, model.OutcomeUp), s("g", 124, model.OutcomeUp))
	sortSamples(samples)
	got := minutes(t, samples, 2, always, 3)
	if got[0] != SliceDegraded || got[1] != SliceDown || got[2] != SliceDegraded {
		t.Fatalf("minutes %v, want degraded, down, degraded", got)
	}
}

// An outage seen by both regions for ten whole rounds is charged ten
// minutes, though the live verdict's down time straddles eleven.
func TestTenMinuteOutageIsChargedTenMinutes(t *testing.T) {
	var samples []Sample
	for k := -2; k < 14; k++ {
		o := model.OutcomeUp
		if k >= 1 && k < 11 {
			o = model.OutcomeDown
		}
		samples = append(samples, s("a", k*60+17, o), s("b", k*60+17, o))
	}
	if down := downMinutes(t, samples, 13); down != 10 {
		t.Fatalf("%d down minutes, want 10", down)
	}
}

// Five minutes down from :30 to :30 straddle six minutes, half of the first
// and half of the last: they are charged five.
func TestOutageIsChargedItsLengthRounded(t *testing.T) {
	var samples []Sample
	for k := -2; k < 9; k++ {
		o := model.OutcomeUp
		if k >= 1 && k < 6 {
			o = model.OutcomeDown
		}
		samples = append(samples, s("a", k*60+30, o), s("b", k*60+30, o))
	}
	if down := downMinutes(t, samples, 9); down != 5 {
		t.Fatalf("%d down minutes, want 5", down)
	}
	// 20 s down across a minute boundary (:50 to 1:10) is one minute.
	short := []Sample{s("a", 0, model.OutcomeUp), s("b", 0, model.OutcomeUp), s("a", 50, model.OutcomeDown), s("b", 50, model.OutcomeDown),
		s("a", 70, model.OutcomeUp), s("b", 70, model.OutcomeUp)}
	got := minutes(t, short, 2, always, 2)
	if got[0] != SliceDown || got[1] == SliceDown {
		t.Fatalf("a 20 s outage across a boundary: %v, want the first minute down", got)
	}
}

// A region whose results are probe problems, or that was not healthy when
// they were scheduled, is silent: with two regions cut off and one left,
// the check is unknown, never down.
func TestProbeProblemsAreSilence(t *testing.T) {
	cut := func(r string, sec int) Sample {
		x := s(r, sec, model.OutcomeDown)
		x.ProbeProblem = true
		return x
	}
	samples := []Sample{s("a", 0, model.OutcomeUp), cut("b", 5), cut("c", 10), s("a", 60, model.OutcomeUp), cut("b", 65), cut("c", 70)}
	for _, sl := range minutes(t, samples, 2, always, 2) {
		if sl == SliceDown || sl == SliceDegraded {
			t.Fatalf("probe problems judged as the target's: %v", sl)
		}
	}
	// The same failures, unmarked, from regions unhealthy at the time.
	plain := []Sample{s("a", 0, model.OutcomeUp), s("b", 5, model.OutcomeDown), s("c", 10, model.OutcomeDown)}
	onlyA := func(region string, _ time.Time) bool { return region == "a" }
	if got := minutes(t, plain, 2, onlyA, 1); got[0] != SliceUnknown {
		t.Fatalf("failures of unhealthy regions: %v, want unknown", got)
	}
	if got := minutes(t, plain, 2, always, 1); got[0] != SliceDown {
		t.Fatalf("the same failures of healthy regions: %v, want down", got)
	}
}

// A stale CDN edge makes the minute degraded, as it makes the live
// verdict.
func TestStaleEdgeMinuteIsDegraded(t *testing.T) {
	edge := func(r string, sec int, hash, v string) Sample {
		x := s(r, sec, model.OutcomeUp)
		x.ContentHash, x.Version = hash, v
		return x
	}
	samples := []Sample{edge("a", 1, "new", "2"), edge("b", 2, "new", "2"), edge("c", 3, "old", "1")}
	if got := minutes(t, samples, 2, always, 1); got[0] != SliceDegraded {
		t.Fatalf("stale edge minute: %v", got)
	}
}

// Latency: a lone region's slow results spend nothing; quorum regions'
// do.
func TestLatencyEventsNeedQuorum(t *testing.T) {
	slow := func(r string, sec int) Sample {
		x := s(r, sec, model.OutcomeUp)
		x.Duration = 2 * time.Second
		return x
	}
	fast := func(r string, sec int) Sample {
		x := s(r, sec, model.OutcomeUp)
		x.Duration = 10 * time.Millisecond
		return x
	}
	lone := []Sample{slow("a", 1), fast("b", 2), fast("c", 3)}
	if e := LatencyEvents(lone, MinuteOf(t0), 2, time.Second); e.Good != 3 || e.Total != 3 {
		t.Fatalf("a lone slow region: %+v", e)
	}
	two := []Sample{slow("a", 1), slow("b", 2), fast("c", 3)}
	if e := LatencyEvents(two, MinuteOf(t0), 2, time.Second); e.Good != 1 || e.Total != 3 {
		t.Fatalf("two slow regions: %+v", e)
	}
}

// downMinutes counts the down minutes of n minutes of two regions' samples
// at quorum 2.
func downMinutes(t *testing.T, samples []Sample, n int) int {
	t.Helper()
	sortSamples(samples)
	down := 0
	for _, sl := range minutes(t, samples, 2, always, n) {
		if sl == SliceDown {
			down++
		}
	}
	return down
}

func sortSamples(xs []Sample) {
	for i := 1; i < len(xs); i++ {
		for j := i; j > 0 && xs[j].Scheduled.Before(xs[j-1].Scheduled); j-- {
			xs[j], xs[j-1] = xs[j-1], xs[j]
		}
	}
}

func TestBlipIsAFailureItsRoundDidNotConfirm(t *testing.T) {
	down, up := model.OutcomeDown, model.OutcomeUp
	ask := func(region string, sec int, o model.Outcome) Sample {
		x := s(region, sec, o)
		x.OnDemand = true
		return x
	}
	recover := func(region string, sec int, o model.Outcome) Sample {
		x := ask(region, sec, o)
		x.Recovery = true
		return x
	}
	// Both regions ran at :00 (up); london fails its :30 run.
	base := []Sample{s("eu-london", 0, up), s("us-ohio", 0, up), s("eu-london", 30, down)}
	for _, tc := range []struct {
		name  string
		after []Sample
		blip  bool
	}{
		{"the region's re-run and the others pass", []Sample{ask("eu-london", 31, up), ask("us-ohio", 31, up)}, true},
		{"no round answered", nil, false},
		{"the region's re-run fails", []Sample{ask("eu-london", 31, down), ask("us-ohio", 31, up)}, false},
		{"another region's run fails", []Sample{ask("eu-london", 31, up), ask("us-ohio", 32, down)}, false},
		{"only others answered", []Sample{ask("us-ohio", 31, up)}, false},
		{"the re-run came after the region's next scheduled run", []Sample{s("eu-london", 60, up), ask("eu-london", 61, up)}, false},
		{"the re-run came too late", []Sample{ask("eu-london", 30+int(BlipWindow/time.Second), up)}, false},
		// The target came back and a recovery round asked every region:
		// its pass ends the outage, it does not undo the failure.
		{"a recovery round's pass", []Sample{recover("eu-london", 40, up), recover("us-ohio", 40, up)}, false},
	} {
		samples := append(append([]Sample{}, base...), tc.after...)
		if got := Blip(samples, 2); got != tc.blip {
			t.Errorf("%s: Blip = %v, want %v", tc.name, got, tc.blip)
		}
		for i := range samples {
			if i != 2 && Blip(samples, i) {
				t.Errorf("%s: sample %d (%+v) taken for a blip", tc.name, i, samples[i])
			}
		}
	}
	// With quorum 1 a lone failure makes its minute down; a blip, nothing.
	confirmed := []Sample{s("eu-london", 0, up), s("us-ohio", 0, up), s("eu-london", 30, down), s("eu-london", 35, up)}
	if got := minutes(t, confirmed, 1, always, 1)[0]; got != SliceDown {
		t.Fatalf("a failure not re-run: minute %v, want down", got)
	}
	blip := []Sample{s("eu-london", 0, up), s("us-ohio", 0, up), s("eu-london", 30, down), ask("eu-london", 31, up), ask("us-ohio", 31, up)}
	kept := DropBlips(blip)
	if len(kept) != 4 || kept[2].Outcome != up {
		t.Fatalf("DropBlips kept %+v, want all but the failure", kept)
	}
	if got := minutes(t, kept, 1, always, 1)[0]; got != SliceUp {
		t.Fatalf("a blip: minute %v, want up", got)
	}
}
