package confirm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/internal/testwait"
	"github.com/nines-sre/nines/model"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

const testConfig = `regions: [{id: eu-london}, {id: eu-frankfurt}, {id: us-ohio}, {id: ap-tokyo}]
quorum: 2
probes:
  tokens: [{region: eu-london, token: a-long-enough-token-1}]
components:
  - id: api
    checks:
      - {id: minor, kind: http, http: {url: "http://127.0.0.1:9/a"}}
      - {id: major, kind: http, http: {url: "http://127.0.0.1:9/b"}}
slos:
  - {id: s, checks: [major], target: 99.9}
`

func TestRounds(t *testing.T) {
	cfg, err := config.Parse("test.yaml", []byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	r := New(func(_ *config.Config, _, region string) string { return "p1" }, nil)
	all := map[string]bool{"eu-london": true, "eu-frankfurt": true, "us-ohio": true, "ap-tokyo": true}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	down := &model.Result{Check: "minor", Region: "eu-london", Outcome: model.OutcomeDown}

	// A waiting probe is answered as soon as its request is queued.
	got := make(chan []model.ConfirmRequest, 1)
	go func() { got <- r.Take(context.Background(), "us-ohio", "p1", 10, 5*time.Second) }()
	waitingProbe(t, r, "us-ohio/p1")
	asked := r.Consider(cfg, down, true, all, now)
	// The failing region, then two of the others: other continents first.
	if len(asked) != 3 || asked[0] != "eu-london" || asked[1] != "us-ohio" || asked[2] != "ap-tokyo" {
		t.Fatalf("asked %v", asked)
	}
	select {
	case reqs := <-got:
		if len(reqs) != 1 || reqs[0].Check != "minor" || reqs[0].Round <= 0 {
			t.Fatalf("us-ohio got %+v", reqs)
		}
	case <-time.After(time.Second):
		t.Fatal("the waiting probe was not woken")
	}
	// Two rounds of a check in a row, then one an interval; none for
	// what is not news.
	if again := r.Consider(cfg, down, true, all, now.Add(30*time.Second)); len(again) != 3 {
		t.Fatalf("a second round within the interval: %v", again)
	}
	if again := r.Consider(cfg, down, true, all, now.Add(40*time.Second)); again != nil {
		t.Fatalf("a third round within the interval: %v", again)
	}
	if again := r.Consider(cfg, down, true, all, now.Add(100*time.Second)); len(again) != 3 {
		t.Fatalf("a round an interval later: %v", again)
	}
	for name, res := range map[string]*model.Result{
		"isolated":  {Check: "major", Region: "eu-london", Outcome: model.OutcomeDown, ProbeIsolated: true},
		"on demand": {Check: "major", Region: "eu-london", Outcome: model.OutcomeDown, OnDemand: true},
		"degraded":  {Check: "major", Region: "eu-london", Outcome: model.OutcomeDegraded},
	} {
		if a := r.Consider(cfg, res, true, all, now); a != nil {
			t.Errorf("%s: asked %v", name, a)
		}
	}
	if a := r.Consider(cfg, &model.Result{Check: "major", Region: "eu-london", Outcome: model.OutcomeDown}, false, all, now); a != nil {
		t.Errorf("a check already not up: asked %v", a)
	}
	// Past the interval, another; the SLO's check comes first for a probe.
	r.Consider(cfg, &model.Result{Check: "major", Region: "eu-london", Outcome: model.OutcomeDown}, true, all, now.Add(time.Second))
	reqs := r.Take(context.Background(), "eu-london", "p1", 10, 0)
	if len(reqs) != 4 || reqs[0].Check != "major" || reqs[1].Check != "minor" {
		t.Fatalf("eu-london's queue: %+v", reqs)
	}
	if reqs := r.Take(context.Background(), "eu-london", "p1", 10, 10*time.Millisecond); reqs != nil {
		t.Fatalf("an empty queue: %+v", reqs)
	}
}

func TestCloseAnswersWaitingProbes(t *testing.T) {
	r := New(func(*config.Config, string, string) string { return "p1" }, nil)
	done := make(chan []model.ConfirmRequest, 1)
	go func() { done <- r.Take(context.Background(), "eu-london", "p1", 10, time.Minute) }()
	waitingProbe(t, r, "eu-london/p1")
	r.Close()
	select {
	case got := <-done:
		if len(got) != 0 {
			t.Fatalf("closed rounds handed %v", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a waiting probe was not answered when the rounds closed")
	}
	if got := r.Take(context.Background(), "eu-london", "p1", 10, time.Minute); got != nil {
		t.Fatalf("after Close, Take = %v, want nil at once", got)
	}
}

// waitingProbe waits until a probe's long-poll is held.
func waitingProbe(t *testing.T, r *Rounds, probe string) {
	t.Helper()
	testwait.Eventually(t, time.Second, "probe "+probe+" waiting", func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.waiting[probe] == nil {
			return errors.New("not yet")
		}
		return nil
	})
}

func TestRoundsAreBoundedAndTimed(t *testing.T) {
	var checks strings.Builder
	for i := range 120 {
		fmt.Fprintf(&checks, "      - {id: c%03d, kind: http, http: {url: \"http://127.0.0.1:9/%d\"}}\n", i, i)
	}
	cfg, err := config.Parse("test.yaml", []byte(`regions: [{id: eu-london}, {id: us-ohio}]
quorum: 1
probes:
  tokens: [{region: eu-london, token: a-long-enough-token-1}]
components:
  - id: api
    checks:
`+checks.String()+`slos:
  - {id: s, checks: [c119], target: 99.9}
`))
	if err != nil {
		t.Fatal(err)
	}
	r := New(func(*config.Config, string, string) string { return "p1" }, nil)
	all := map[string]bool{"eu-london": true, "us-ohio": true}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	// A global outage: every check fails in eu-london at once.
	for _, ch := range cfg.AllChecks() {
		r.Consider(cfg, &model.Result{Check: ch.ID, Region: "eu-london", Outcome: model.OutcomeDown}, true, all, now)
	}
	if got := testutil.ToFloat64(r.asked); got != 120 {
		t.Fatalf("rounds asked = %v, want 120", got)
	}
	if got := testutil.ToFloat64(r.dropped); got != 2*(120-maxQueued) {
		t.Fatalf("runs dropped = %v, want %d: each probe keeps %d", got, 2*(120-maxQueued), maxQueued)
	}
	// The probe gets its burst at once, the SLO's check first, then no
	// more than the rate allows.
	first := r.Take(context.Background(), "eu-london", "p1", 100, 0)
	if len(first) != runBurst || first[0].Check != "c119" {
		t.Fatalf("first take: %d runs, first %q; want %d, c119 first", len(first), first[0].Check, runBurst)
	}
	began := time.Now()
	n := 0
	for time.Since(began) < 500*time.Millisecond {
		n += len(r.Take(context.Background(), "eu-london", "p1", 100, 100*time.Millisecond))
	}
	if max := int(runRate*time.Since(began).Seconds()) + 1; n > max {
		t.Fatalf("%d runs handed in %v past the burst; the rate allows %d", n, time.Since(began), max)
	}
	// A round is timed when its every region has answered.
	r.Stored(cfg, []model.Result{{Check: "c119", Region: "eu-london", Outcome: model.OutcomeUp, OnDemand: true}}, nil, nil, nil, now.Add(time.Second))
	if got := testutil.ToFloat64(r.complete); got != 0 {
		t.Fatalf("rounds answered = %v with us-ohio outstanding", got)
	}
	r.Stored(cfg, []model.Result{{Check: "c119", Region: "us-ohio", Outcome: model.OutcomeUp, OnDemand: true}}, nil, nil, nil, now.Add(2*time.Second))
	if got := testutil.ToFloat64(r.complete); got != 1 {
		t.Fatalf("rounds answered = %v, want 1", got)
	}
	var m dto.Metric
	if err := r.took.Write(&m); err != nil {
		t.Fatal(err)
	}
	if h := m.GetHistogram(); h.GetSampleCount() != 1 || h.GetSampleSum() != 2 {
		t.Fatalf("round durations: %d observed, sum %vs; want one of 2s", h.GetSampleCount(), h.GetSampleSum())
	}
	// A round never answered is counted when the check's next one is asked.
	r.Consider(cfg, &model.Result{Check: "c000", Region: "eu-london", Outcome: model.OutcomeDown}, true, all, now.Add(2*time.Minute))
	if got := testutil.ToFloat64(r.incomplete); got != 1 {
		t.Fatalf("rounds unanswered = %v, want 1", got)
	}
}

// A round asked on one replica reaches the probes that poll another, and
// counts there as the check's round for the interval; a run left waiting
// past maxAge is not handed.
func TestRoundsReachOtherReplicas(t *testing.T) {
	cfg, err := config.Parse("test.yaml", []byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	owner := func(*config.Config, string, string) string { return "p1" }
	a, b := New(owner, nil), New(owner, nil)
	sent := make(chan []byte, 1)
	a.announce = func(p []byte) { sent <- p }
	all := map[string]bool{"eu-london": true, "eu-frankfurt": true, "us-ohio": true, "ap-tokyo": true}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	down := &model.Result{Check: "major", Region: "eu-london", Outcome: model.OutcomeDown}
	if asked := a.Consider(cfg, down, true, all, now); len(asked) != 3 {
		t.Fatalf("asked %v", asked)
	}
	var payload []byte
	select {
	case payload = <-sent:
	case <-time.After(time.Second):
		t.Fatal("the round was not announced")
	}
	a.Receive(payload) // its own: passed over
	b.Receive([]byte("not json"))
	b.Receive(payload)
	for _, region := range []string{"eu-london", "us-ohio", "ap-tokyo"} {
		got := b.Take(context.Background(), region, "p1", 10, 0)
		if len(got) != 1 || got[0].Check != "major" {
			t.Fatalf("%s on replica b: %+v", region, got)
		}
	}
	if got := a.Take(context.Background(), "eu-london", "p1", 10, 0); len(got) != 1 {
		t.Fatalf("replica a's own queue: %+v (its announcement taken in twice?)", got)
	}
	// The round counts on b too: one more in a row, then none.
	if again := b.Consider(cfg, &model.Result{Check: "major", Region: "us-ohio", Outcome: model.OutcomeDown}, true, all, now.Add(10*time.Second)); len(again) != 3 {
		t.Fatalf("replica b's second round: %v", again)
	}
	if again := b.Consider(cfg, &model.Result{Check: "major", Region: "us-ohio", Outcome: model.OutcomeDown}, true, all, now.Add(20*time.Second)); again != nil {
		t.Fatalf("replica b asked a third round within the interval: %v", again)
	}
	// The answers reach a by replica sync (ingested by b): the round is
	// answered on a.
	var answers []model.Result
	for _, region := range []string{"eu-london", "us-ohio", "ap-tokyo"} {
		answers = append(answers, model.Result{Check: "major", Region: region, Outcome: model.OutcomeUp, OnDemand: true},
			model.Result{Check: "minor", Region: region, Outcome: model.OutcomeUp})
	}
	a.Answered(answers[:4], now.Add(time.Second))
	if got := testutil.ToFloat64(a.complete); got != 0 {
		t.Fatalf("answered with one region outstanding: %v", got)
	}
	a.Answered(answers, now.Add(2*time.Second))
	if got := testutil.ToFloat64(a.complete); got != 1 {
		t.Fatalf("rounds answered on a = %v, want 1", got)
	}
	// A run nobody fetched in time is stale.
	b.Receive(payload)
	b.mu.Lock()
	for probe, q := range b.queue {
		for i := range q {
			q[i].at = time.Now().Add(-maxAge - time.Second)
		}
		b.queue[probe] = q
	}
	b.mu.Unlock()
	if got := b.Take(context.Background(), "eu-london", "p1", 10, 10*time.Millisecond); got != nil {
		t.Fatalf("a stale run was handed: %+v", got)
	}
}

// A region that sees a down check pass asks every other healthy region
// to run it now (once per interval), marked as a recovery.
func TestRecoveryRounds(t *testing.T) {
	cfg, err := config.Parse("test.yaml", []byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	r := New(func(_ *config.Config, _, region string) string { return "p1" }, nil)
	all := map[string]bool{"eu-london": true, "eu-frankfurt": true, "us-ohio": true, "ap-tokyo": false}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	up := &model.Result{Check: "major", Region: "us-ohio", Outcome: model.OutcomeUp}
	if a := r.Recovered(cfg, up, false, all, now); a != nil {
		t.Fatalf("a pass of a check that is not down asked %v", a)
	}
	asked := r.Recovered(cfg, up, true, all, now)
	if fmt.Sprint(asked) != "[eu-london eu-frankfurt]" {
		t.Fatalf("a recovery asked %v, want every other healthy region", asked)
	}
	if a := r.Recovered(cfg, up, true, all, now.Add(10*time.Second)); len(a) != 2 {
		t.Fatalf("a second recovery round within the interval: %v", a)
	}
	if a := r.Recovered(cfg, up, true, all, now.Add(20*time.Second)); a != nil {
		t.Fatalf("a third recovery round within the interval: %v", a)
	}
	reqs := r.Take(context.Background(), "eu-london", "p1", 10, 0)
	if len(reqs) != 2 || !reqs[0].Recovery || reqs[0].Check != "major" {
		t.Fatalf("eu-london was handed %+v", reqs)
	}
	// A failure round in the same interval is not held back by it.
	if a := r.Consider(cfg, &model.Result{Check: "major", Region: "eu-london", Outcome: model.OutcomeDown}, true, all, now.Add(time.Second)); len(a) != 3 {
		t.Fatalf("a failure after a recovery asked %v", a)
	}
}

// Other continents come first by the region's continent: ca-central and
// us-ohio are both the Americas, and a region's continent can be set.
func TestConfirmationPrefersOtherContinents(t *testing.T) {
	cfg, err := config.Parse("test.yaml", []byte(`regions: [{id: us-ohio}, {id: ca-central}, {id: us-oregon}, {id: eu-london}, {id: lab-1, continent: americas}, {id: ap-tokyo}]
quorum: 2
probes:
  tokens: [{region: us-ohio, token: a-long-enough-token-1}]
components:
  - id: api
    checks:
      - {id: api, kind: http, http: {url: "http://127.0.0.1:9/a"}}
`))
	if err != nil {
		t.Fatal(err)
	}
	r := New(func(_ *config.Config, _, region string) string { return "p1" }, nil)
	all := map[string]bool{"us-ohio": true, "ca-central": true, "us-oregon": true, "eu-london": true, "lab-1": true, "ap-tokyo": true}
	asked := r.Consider(cfg, &model.Result{Check: "api", Region: "us-ohio", Outcome: model.OutcomeDown}, true, all, time.Now())
	if fmt.Sprint(asked) != "[us-ohio eu-london ap-tokyo]" {
		t.Fatalf("asked %v, want the failing region then Europe and Asia-Pacific", asked)
	}
	if cfg.ContinentOf("lab-1") != "americas" || cfg.ContinentOf("ca-central") != "americas" || cfg.ContinentOf("xx-1") != "xx" {
		t.Fatal(cfg.ContinentOf("lab-1"), cfg.ContinentOf("ca-central"), cfg.ContinentOf("xx-1"))
	}
}

// A pass of a down check asks a recovery round when it was scheduled
// after the failures that made the check down, whichever region it is
// from: a pass scheduled before the outage and arriving late says nothing
// of a recovery.
func TestRecoveryNeedsAPassAfterTheOutage(t *testing.T) {
	cfg, err := config.Parse("test.yaml", []byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	r := New(func(_ *config.Config, _, region string) string { return "p1" }, nil)
	all := func() map[string]bool {
		return map[string]bool{"eu-london": true, "eu-frankfurt": true, "us-ohio": true, "ap-tokyo": true}
	}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	down := func(*config.Check) model.Status { return model.StatusDown }
	lastFailure := func(string) time.Time { return now.Add(-30 * time.Second) }
	r.Stored(cfg, []model.Result{{Check: "major", Region: "eu-london", Outcome: model.OutcomeUp, Scheduled: now.Add(-31 * time.Second)}}, down, lastFailure, all, now)
	if got := testutil.ToFloat64(r.recoveries); got != 0 {
		t.Fatalf("a pass from before the outage asked %v recovery rounds", got)
	}
	r.Stored(cfg, []model.Result{{Check: "major", Region: "us-ohio", Outcome: model.OutcomeUp, Scheduled: now}}, down, lastFailure, all, now)
	if got := testutil.ToFloat64(r.recoveries); got != 1 {
		t.Fatalf("a pass after the outage's failures asked %v recovery rounds", got)
	}
}
