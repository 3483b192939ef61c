package live

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/nines-sre/nines/model"
)

// Latest keeps the newest result of every check in every region. The
// results it hands out are shared and never modified: a newer one replaces
// the pointer.
type Latest struct {
	mu sync.RWMutex
	m  map[string]map[string]*model.Result // check → region → result
	// seq holds, per check, the value of changes when one of its regions
	// last had a newer result.
	seq map[string]uint64
	// changes counts the results that became a region's newest; flips
	// those of them that said something else than the one they replaced.
	changes, flips atomic.Uint64
}

// NewLatest returns an empty Latest.
func NewLatest() *Latest {
	return &Latest{m: map[string]map[string]*model.Result{}, seq: map[string]uint64{}}
}

// ChangedSince returns the checks with a newer result since changes was
// at since, and changes now.
func (l *Latest) ChangedSince(since uint64) (map[string]bool, uint64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := map[string]bool{}
	for check, n := range l.seq {
		if n > since {
			out[check] = true
		}
	}
	return out, l.changes.Load()
}

// Offer records r when it is newer than what is known.
func (l *Latest) Offer(r model.Result) {
	l.mu.Lock()
	defer l.mu.Unlock()
	byRegion := l.m[r.Check]
	if byRegion == nil {
		byRegion = map[string]*model.Result{}
		l.m[r.Check] = byRegion
	}
	if cur, ok := byRegion[r.Region]; !ok || r.Scheduled.After(cur.Scheduled) {
		if !ok || cur.Outcome != r.Outcome || cur.ProbeIsolated != r.ProbeIsolated {
			l.flips.Add(1)
		}
		r.Started = r.Started.UTC()
		byRegion[r.Region] = &r
		l.seq[r.Check] = l.changes.Add(1)
	}
}

// Regions calls fn with the newest result of check by region; the map is
// shared and read-only, and fn runs under the read lock that guards it.
func (l *Latest) Regions(check string, fn func(map[string]*model.Result)) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	fn(l.m[check])
}

// Flips counts the results that became their region's newest saying
// something else than the one they replaced.
func (l *Latest) Flips() uint64 { return l.flips.Load() }

// Newest is when the newest result of check in region was scheduled (zero
// when there is none).
func (l *Latest) Newest(check, region string) time.Time {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if r := l.m[check][region]; r != nil {
		return r.Scheduled
	}
	return time.Time{}
}

// Result is the newest result of check in region, or nil; a copy.
func (l *Latest) Result(check, region string) *model.Result {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if r := l.m[check][region]; r != nil {
		c := *r
		return &c
	}
	return nil
}

// LastFailure is when the newest of check's regions' newest results that
// failed was scheduled (zero when none failed).
func (l *Latest) LastFailure(check string) time.Time {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var t time.Time
	for _, r := range l.m[check] {
		if r.Outcome == model.OutcomeDown && r.Scheduled.After(t) {
			t = r.Scheduled
		}
	}
	return t
}
