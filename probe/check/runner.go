package check

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/nines-sre/nines/assertion"
	"github.com/nines-sre/nines/model"
)

// Runner compiles checks and owns what their runs share: HTTP transports,
// parsed assertions (immutable, and repeated across large fleets), and
// the state a kind keeps for a check from run to run (a flow check's SDK
// client). A probe owns one and, at each new assignment, Retain prunes it
// to the checks assigned.
type Runner struct {
	mu         sync.Mutex
	transports map[transportKey]*http.Transport
	parsed     map[string]*assertion.Assertion
	kept       map[string]map[string]any // check id → key → state
}

// NewRunner returns an empty runner.
func NewRunner() *Runner {
	return &Runner{transports: map[transportKey]*http.Transport{}, parsed: map[string]*assertion.Assertion{}, kept: map[string]map[string]any{}}
}

// Compile prepares c for running by r.
func (r *Runner) Compile(c model.Check) (*Compiled, error) {
	run, ok := kinds[c.Kind]
	if !ok {
		return nil, fmt.Errorf("check %s: unknown kind %q", c.ID, c.Kind)
	}
	cc := &Compiled{Check: c, run: run, runner: r}
	for i, src := range c.Asserts {
		a, err := r.parse(src)
		if err != nil {
			return nil, fmt.Errorf("check %s: assert[%d]: %w", c.ID, i, err)
		}
		cc.Asserts = append(cc.Asserts, a)
	}
	for i, src := range c.Degrade {
		a, err := r.parse(src)
		if err != nil {
			return nil, fmt.Errorf("check %s: degrade[%d]: %w", c.ID, i, err)
		}
		cc.Degrade = append(cc.Degrade, a)
	}
	return cc, nil
}

func (r *Runner) parse(src string) (*assertion.Assertion, error) {
	r.mu.Lock()
	a, ok := r.parsed[src]
	r.mu.Unlock()
	if ok {
		return a, nil
	}
	a, err := assertion.Parse(src)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if prev, ok := r.parsed[src]; ok {
		return prev, nil
	}
	r.parsed[src] = a
	return a, nil
}

// transport returns the shared transport of k, made on first use.
func (r *Runner) transport(k transportKey) (*http.Transport, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.transports[k]; ok {
		return t, nil
	}
	t, err := newTransport(k)
	if err != nil {
		return nil, err
	}
	r.transports[k] = t
	return t, nil
}

// keep returns the state kept for check under key, made by mk on first
// use.
func (r *Runner) keep(check, key string, mk func() any) any {
	r.mu.Lock()
	defer r.mu.Unlock()
	byKey := r.kept[check]
	if byKey == nil {
		byKey = map[string]any{}
		r.kept[check] = byKey
	}
	v, ok := byKey[key]
	if !ok {
		v = mk()
		byKey[key] = v
	}
	return v
}

// Retain prunes r to what checks use: the state of other checks, the
// assertions no check has and the transports no check asks for (their
// idle connections closed) are let go.
func (r *Runner) Retain(checks []model.Check) {
	ids := make(map[string]bool, len(checks))
	texts := map[string]bool{}
	keys := map[transportKey]bool{}
	for i := range checks {
		c := &checks[i]
		ids[c.ID] = true
		for _, src := range c.Asserts {
			texts[src] = true
		}
		if spec := httpSpec(c); spec != nil {
			keys[keyOf(spec)] = true
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for id := range r.kept {
		if !ids[id] {
			delete(r.kept, id)
		}
	}
	for src := range r.parsed {
		if !texts[src] {
			delete(r.parsed, src)
		}
	}
	for k, t := range r.transports {
		if !keys[k] {
			t.CloseIdleConnections()
			delete(r.transports, k)
		}
	}
}

// Sizes says how many transports, parsed assertions and checks with kept
// state r holds.
func (r *Runner) Sizes() (transports, assertions, kept int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.transports), len(r.parsed), len(r.kept)
}

// httpSpec is the HTTP request of an http or cdn check, or nil.
func httpSpec(c *model.Check) *model.HTTPSpec {
	switch {
	case c.HTTP != nil:
		return c.HTTP
	case c.CDN != nil:
		return &c.CDN.HTTPSpec
	}
	return nil
}
