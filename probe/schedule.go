package probe

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
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

// job is one scheduled check. The scheduler owns time: it knows the slot a
// run belongs to, measures lateness, and never lets a check overlap itself.
type job struct {
	p       *Probe
	cc      *check.Compiled
	sched   cron.Schedule
	version string
	ctx     context.Context

	running sync.Mutex
	mu      sync.Mutex
	next    time.Time
}

// Run is called by cron at (or just after) each scheduled time.
func (j *job) Run() {
	now := j.p.now()
	j.mu.Lock()
	slot := j.next
	for n := j.sched.Next(slot); !n.After(now); n = j.sched.Next(slot) {
		slot = n
	}
	j.next = j.sched.Next(slot)
	j.mu.Unlock()
	if slot.After(now) {
		return // fired early: not our slot yet
	}
	id := j.cc.Check.ID
	if !j.running.TryLock() {
		j.p.m.skipped.WithLabelValues(id).Inc()
		return
	}
	defer j.running.Unlock()
	j.p.m.lateness.Observe(now.Sub(slot).Seconds())
	r := model.Result{Check: id, Region: j.p.opts.Region, Scheduled: slot.UTC(), Probe: j.p.opts.ProbeID, ConfigVersion: j.version}
	j.cc.Run(j.ctx, j.p.env, &r)
	if j.ctx.Err() != nil {
		return // cut short by shutdown: not a verdict on the target
	}
	r.Started = r.Started.UTC()
	j.p.m.results.WithLabelValues(id, string(r.Outcome)).Inc()
	j.p.m.duration.WithLabelValues(id).Observe(r.Latency().Seconds())
	j.p.record(j.ctx, &r)
}

// scheduler keeps one cron entry per assigned check and swaps entries when
// the assignment changes, leaving unchanged checks untouched.
type scheduler struct {
	p       *Probe
	cron    *cron.Cron
	mu      sync.Mutex
	entries map[string]scheduled // check id → entry
}

type scheduled struct {
	id   cron.EntryID
	hash string
}

func newScheduler(p *Probe) *scheduler {
	return &scheduler{p: p, cron: cron.New(cron.WithLocation(time.UTC)), entries: map[string]scheduled{}}
}

func checkHash(c *model.Check) string {
	b, _ := json.Marshal(c)
	sum := sha256.Sum256(b)
	return string(sum[:16])
}

// apply makes the schedule match a.
func (s *scheduler) apply(ctx context.Context, a *model.Assignment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[string]bool{}
	for i := range a.Checks {
		c := a.Checks[i]
		want[c.ID] = true
		h := checkHash(&c)
		if cur, ok := s.entries[c.ID]; ok {
			if cur.hash == h {
				continue
			}
			s.cron.Remove(cur.id)
			delete(s.entries, c.ID)
		}
		cc, err := check.Compile(c)
		if err != nil {
			s.p.log.Error("check not scheduled", "check", c.ID, "err", err)
			continue
		}
		sched, err := scheduleOf(&c)
		if err != nil {
			s.p.log.Error("check not scheduled", "check", c.ID, "err", err)
			continue
		}
		j := &job{p: s.p, cc: cc, sched: sched, version: a.Version, ctx: ctx, next: sched.Next(s.p.now())}
		s.entries[c.ID] = scheduled{id: s.cron.Schedule(sched, j), hash: h}
	}
	for id, cur := range s.entries {
		if !want[id] {
			s.cron.Remove(cur.id)
			delete(s.entries, id)
		}
	}
	s.p.m.assignments.Set(float64(len(s.entries)))
}
