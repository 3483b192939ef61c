package probe

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/nines-sre/nines/model"
	"github.com/nines-sre/nines/probe/check"
)

// phase fires every interval at offset past the interval grid of the Unix
// epoch, so a check's start times are the same on every probe and restart.
type phase struct {
	interval, offset time.Duration
}

// Next returns the first start strictly after t.
func (p phase) Next(t time.Time) time.Time {
	n := t.UnixNano() - int64(p.offset)
	iv := int64(p.interval)
	k := n / iv
	if n < 0 && n%iv != 0 {
		k--
	}
	return time.Unix(0, (k+1)*iv+int64(p.offset))
}

// scheduleOf returns when c runs: a cron spec (robfig/cron's standard
// parser) or an interval at the check's offset.
func scheduleOf(c *model.Check) (cron.Schedule, error) {
	if c.Cron != "" {
		s, err := cron.ParseStandard(c.Cron)
		if err != nil {
			return nil, fmt.Errorf("check %s: cron %q: %w", c.ID, c.Cron, err)
		}
		return s, nil
	}
	if c.Interval <= 0 {
		return nil, fmt.Errorf("check %s: interval must be positive", c.ID)
	}
	return phase{interval: c.Interval, offset: c.Offset % c.Interval}, nil
}

// job is one scheduled check.
type job struct {
	p       *Probe
	cc      *check.Compiled
	sched   cron.Schedule
	hash    string
	version string

	next  time.Time // guarded by the scheduler's lock
	index int       // position in the heap; -1 once removed

	running sync.Mutex
}

// run executes one slot of the check, or a run a confirmation or
// recovery round asked for (asked); a run while the previous one is still
// going is skipped and counted, so a check never overlaps itself.
func (j *job) run(ctx context.Context, slot time.Time, asked *model.ConfirmRequest) {
	onDemand := asked != nil
	id := j.cc.Check.ID
	if !j.running.TryLock() {
		j.p.m.skipped.WithLabelValues(id).Inc()
		return
	}
	defer j.running.Unlock()
	if !onDemand {
		j.p.m.lateness.Observe(j.p.now().Sub(slot).Seconds())
	}
	r := model.Result{Check: id, Region: j.p.opts.Region, Scheduled: slot.UTC(), Probe: j.p.opts.ProbeID, ConfigVersion: j.version,
		OnDemand: onDemand, Recovery: onDemand && asked.Recovery}
	j.cc.Run(ctx, j.p.env, &r)
	if ctx.Err() != nil {
		return // cut short by shutdown: not a verdict on the target
	}
	r.Started = r.Started.UTC()
	j.p.reach.observe(ctx, &r)
	kind := string(j.cc.Check.Kind)
	if r.ProbeIsolated {
		j.p.m.isolated.Inc()
	}
	j.p.m.results.WithLabelValues(kind, string(r.Outcome)).Inc()
	j.p.m.duration.WithLabelValues(kind).Observe(r.Latency().Seconds())
	j.p.record(&r)
}

// jobHeap orders jobs by their next start.
type jobHeap []*job

func (h jobHeap) Len() int           { return len(h) }
func (h jobHeap) Less(i, k int) bool { return h[i].next.Before(h[k].next) }
func (h jobHeap) Swap(i, k int) {
	h[i], h[k] = h[k], h[i]
	h[i].index, h[k].index = i, k
}
func (h *jobHeap) Push(x any) { j := x.(*job); j.index = len(*h); *h = append(*h, j) }
func (h *jobHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	j.index = -1
	return j
}

// scheduler owns time: one timer for all checks, a heap ordered by next
// start, each due slot handed to its job in a goroutine. The schedules
// themselves are robfig/cron Schedules (a cron spec, or a phase). Its
// runner compiles the checks and holds what their runs share, pruned to
// each assignment.
type scheduler struct {
	p      *Probe
	runner *check.Runner
	mu     sync.Mutex
	heap   jobHeap
	jobs   map[string]*job
	wake   chan struct{}
}

func newScheduler(p *Probe) *scheduler {
	return &scheduler{p: p, runner: check.NewRunner(), jobs: map[string]*job{}, wake: make(chan struct{}, 1)}
}

func checkHash(c *model.Check) string {
	b, _ := json.Marshal(c)
	sum := sha256.Sum256(b)
	return string(sum[:16])
}

// apply makes the schedule match a, leaving unchanged checks untouched.
func (s *scheduler) apply(a *model.Assignment) {
	now := s.p.now()
	s.mu.Lock()
	want := make(map[string]bool, len(a.Checks))
	for i := range a.Checks {
		c := a.Checks[i]
		want[c.ID] = true
		h := checkHash(&c)
		if cur, ok := s.jobs[c.ID]; ok {
			if cur.hash == h {
				continue
			}
			s.remove(cur)
		}
		cc, err := s.runner.Compile(c)
		if err == nil {
			var sched cron.Schedule
			if sched, err = scheduleOf(&c); err == nil {
				j := &job{p: s.p, cc: cc, sched: sched, hash: h, version: a.Version, next: sched.Next(now)}
				heap.Push(&s.heap, j)
				s.jobs[c.ID] = j
			}
		}
		if err != nil {
			s.p.log.Error("check not scheduled", "check", c.ID, "err", err)
		}
	}
	for id, j := range s.jobs {
		if !want[id] {
			s.remove(j)
		}
	}
	n := len(s.jobs)
	s.mu.Unlock()
	s.runner.Retain(a.Checks)
	s.p.m.assignments.Set(float64(n))
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *scheduler) remove(j *job) {
	if j.index >= 0 {
		heap.Remove(&s.heap, j.index)
	}
	delete(s.jobs, j.cc.Check.ID)
}

// run fires due slots, and the runs confirmation rounds ask for, until
// ctx is done, then waits for running checks.
func (s *scheduler) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { s.confirmLoop(ctx, &wg) })
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := s.p.now()
		wait := time.Hour
		s.mu.Lock()
		for len(s.heap) > 0 {
			j := s.heap[0]
			if d := j.next.Sub(now); d > 0 {
				wait = d
				break
			}
			slot := j.next
			// After a stall (a suspended machine), run the latest missed
			// slot once instead of a burst of stale ones.
			for n := j.sched.Next(slot); !n.After(now); n = j.sched.Next(n) {
				slot = n
			}
			j.next = j.sched.Next(slot)
			heap.Fix(&s.heap, 0)
			wg.Add(1)
			go func() { defer wg.Done(); j.run(ctx, slot, nil) }()
		}
		s.mu.Unlock()
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-timer.C:
		}
	}
}

// confirmLoop long-polls the controller for on-demand runs
// (GET /api/v1/probes/confirm) and starts each at once, outside the
// schedule, which it never shifts. A check this probe does not run now,
// or that is running, is passed over.
func (s *scheduler) confirmLoop(ctx context.Context, wg *sync.WaitGroup) {
	p := s.p
	bo := p.newBackoff()
	for ctx.Err() == nil {
		var got model.ConfirmRequests
		_, err := p.api.do(ctx, http.MethodGet, "/api/v1/probes/confirm?probe="+url.QueryEscape(p.opts.ProbeID), nil, nil, &got)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(bo.NextBackOff()):
			}
			continue
		}
		bo.Reset()
		now := p.now()
		for _, req := range got.Requests {
			s.mu.Lock()
			j := s.jobs[req.Check]
			s.mu.Unlock()
			if j == nil {
				continue
			}
			p.m.onDemand.Inc()
			wg.Go(func() { j.run(ctx, now, &req) })
		}
	}
}
