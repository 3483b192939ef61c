package contentsvc

import (
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"regexp"
	"sort"
	"sync"
	"time"
)

// Fault is an injected failure of the segments API, the CDN, or both,
// optionally only for requests from one probe region (X-Nines-Region) or
// from clients in one country (CountryHeader, as a CDN's edge knows it
// from the client's address: real users, never the probes).
type Fault struct {
	ID      string `json:"id"`
	Target  string `json:"target"`
	Region  string `json:"region,omitempty"`
	Country string `json:"country,omitempty"`
	// LatencyMS delays every matching request.
	LatencyMS int `json:"latency_ms,omitempty"`
	// ErrorStatus answers matching requests with this status, for the share
	// ErrorRate of them (1 when left out).
	ErrorStatus int     `json:"error_status,omitempty"`
	ErrorRate   float64 `json:"error_rate,omitempty"`
	// Outage drops the connection without any answer.
	Outage bool `json:"outage,omitempty"`
	// BrokenContent (target cdn) publishes, to everyone, a content item
	// the browser SDK cannot render: a block of a type it does not know.
	BrokenContent bool `json:"broken_content,omitempty"`
	// DurationS, when set, ends the fault by itself.
	DurationS int       `json:"duration_s,omitempty"`
	Until     time.Time `json:"until,omitzero"`
}

// Fault targets.
const (
	TargetSegments = "segments"
	TargetCDN      = "cdn"
	TargetAll      = "all"
	// TargetPipeline is the publish pipeline (pipeline.go); "all" does
	// not touch it.
	TargetPipeline = "pipeline"
)

// validate names the first bad field.
func (f *Fault) validate() error {
	switch f.Target {
	case TargetSegments, TargetCDN, TargetAll, TargetPipeline:
	case "":
		return fmt.Errorf("target: required (segments, cdn, all or pipeline)")
	default:
		return fmt.Errorf("target: %q is not segments, cdn, all or pipeline", f.Target)
	}
	switch {
	case f.LatencyMS < 0 || f.LatencyMS > 120000:
		return fmt.Errorf("latency_ms: %d is outside 0..120000", f.LatencyMS)
	case f.ErrorStatus != 0 && (f.ErrorStatus < 400 || f.ErrorStatus > 599):
		return fmt.Errorf("error_status: %d is not a 4xx or 5xx status", f.ErrorStatus)
	case f.ErrorRate < 0 || f.ErrorRate > 1:
		return fmt.Errorf("error_rate: %v is outside 0..1", f.ErrorRate)
	case f.ErrorRate > 0 && f.ErrorStatus == 0:
		return fmt.Errorf("error_rate: needs error_status")
	case f.DurationS < 0:
		return fmt.Errorf("duration_s: must not be negative")
	case f.Country != "" && !countryCode.MatchString(f.Country):
		return fmt.Errorf("country: %q is not an ISO 3166 alpha-2 code such as DE", f.Country)
	case f.BrokenContent && f.Target != TargetCDN:
		return fmt.Errorf("broken_content: a fault of the cdn, not %s", f.Target)
	case f.LatencyMS == 0 && f.ErrorStatus == 0 && !f.Outage && !f.BrokenContent:
		return fmt.Errorf("fault: set latency_ms, error_status, outage or broken_content")
	}
	return nil
}

// faults is the injector's table of active faults.
type faults struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string]*Fault
}

func newFaults(now func() time.Time) *faults { return &faults{now: now, m: map[string]*Fault{}} }

func (fs *faults) add(f Fault) Fault {
	b := make([]byte, 4)
	_, _ = crand.Read(b)
	f.ID = hex.EncodeToString(b)
	if f.ErrorStatus != 0 && f.ErrorRate == 0 {
		f.ErrorRate = 1
	}
	if f.DurationS > 0 {
		f.Until = fs.now().Add(time.Duration(f.DurationS) * time.Second).UTC()
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.m[f.ID] = &f
	return f
}

func (fs *faults) remove(id string) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	_, ok := fs.m[id]
	delete(fs.m, id)
	return ok
}

func (fs *faults) clear() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n := len(fs.m)
	fs.m = map[string]*Fault{}
	return n
}

func (fs *faults) list() []Fault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.expire()
	out := make([]Fault, 0, len(fs.m))
	for _, f := range fs.m {
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (fs *faults) expire() {
	now := fs.now()
	for id, f := range fs.m {
		if !f.Until.IsZero() && now.After(f.Until) {
			delete(fs.m, id)
		}
	}
}

// effect is what the active faults do to one request.
type effect struct {
	delay  time.Duration
	status int
	drop   bool
	broken bool // content the SDK cannot render is published
}

// CountryHeader carries the client's country (ISO 3166 alpha-2), as a
// CDN's edge sets it from the client's address.
const CountryHeader = "X-Client-Country"

var countryCode = regexp.MustCompile(`^[A-Z]{2}$`)

func (fs *faults) match(target, region, country string) effect {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.expire()
	var e effect
	for _, f := range fs.m {
		if f.Target != target && (f.Target != TargetAll || target == TargetPipeline) {
			continue
		}
		if f.Region != "" && f.Region != region || f.Country != "" && f.Country != country {
			continue
		}
		e.delay += time.Duration(f.LatencyMS) * time.Millisecond
		e.drop = e.drop || f.Outage
		e.broken = e.broken || f.BrokenContent
		if f.ErrorStatus != 0 && e.status == 0 && rand.Float64() < f.ErrorRate { //nolint:gosec // sampling, not security
			e.status = f.ErrorStatus
		}
	}
	return e
}
