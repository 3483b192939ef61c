// Package check runs one check once against its target: one file per kind,
// all with the same signature, picked from one map. Timing, retries and
// spreading belong to the scheduler, not here.
package check

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nines-sre/nines/assertion"
	"github.com/nines-sre/nines/model"
)

// Observation is what one run of a kind saw, before assertions.
type Observation struct {
	Subject assertion.Subject
	Phases  model.Phases
	// Class and Err are set when the target could not be reached or answered
	// at the protocol level; assertions are not evaluated then.
	Class model.ErrorClass
	Err   error
	// Edge is set by the cdn kind.
	Edge *model.Edge
	// Degraded, with Err, marks a run that served users worse than it
	// should; assertions are still evaluated.
	Degraded bool
	// ProbeFault, with Err, marks a failure of the probe itself (its
	// browser), never the target's.
	ProbeFault bool
	// Screenshot is a JPEG of a browser check's page when a step failed
	// (what the page did is Subject.Browser).
	Screenshot []byte
}

// Env is what a kind may know about where it runs.
type Env struct {
	Region    string
	UserAgent string
	// Browser runs browser checks; nil on a probe started without one.
	Browser BrowserRunner
	runner  *Runner // set by Compiled.Run
}

// Keep returns the state a kind keeps for check under key from run to
// run, made by mk on first use; it lasts while the check stays assigned.
// Outside a runner, mk's state lasts one run.
func (e Env) Keep(check, key string, mk func() any) any {
	if e.runner == nil {
		return mk()
	}
	return e.runner.keep(check, key, mk)
}

// transport returns the transport of k: the runner's shared one, or a new
// one outside a runner.
func (e Env) transport(k transportKey) (*http.Transport, error) {
	if e.runner == nil {
		return newTransport(k)
	}
	return e.runner.transport(k)
}

// Kind runs one check once. It returns when ctx is done at the latest.
type Kind func(ctx context.Context, c *model.Check, env Env) Observation

// kinds holds every registered kind's implementation.
var kinds = map[model.Kind]Kind{}

// Register makes kind runnable by run; its observations set the subjects
// assertion.Subjects names for it. A kind outside this package
// (contentsvc's flow, beside its SDK) registers itself from its package's
// init; the built-in ones are registered here.
func Register(kind model.Kind, run Kind) { kinds[kind] = run }

func init() {
	Register(model.KindHTTP, HTTP)
	Register(model.KindCDN, CDN)
	Register(model.KindTCP, TCP)
	Register(model.KindDNS, DNS)
	Register(model.KindTLS, TLS)
	Register(model.KindBrowser, Browser)
}

// Compiled is a check ready to run: its assertions parsed once.
type Compiled struct {
	Check   model.Check
	Asserts []*assertion.Assertion
	// Degrade fail a run to degraded, not down.
	Degrade []*assertion.Assertion
	run     Kind
	runner  *Runner
}

// Run executes the check once and fills the outcome, timings and error of r.
func (cc *Compiled) Run(ctx context.Context, env Env, r *model.Result) {
	ctx, cancel := context.WithTimeout(ctx, cc.Check.Timeout)
	defer cancel()
	env.runner = cc.runner
	start := time.Now()
	r.Started = start
	obs := cc.run(ctx, &cc.Check, env)
	elapsed := time.Since(start)
	r.DurationUS = elapsed.Microseconds()
	r.Phases = obs.Phases
	r.HTTPStatus = obs.Subject.Status
	r.Bytes = obs.Subject.Size
	r.Edge = obs.Edge
	r.DNS, r.Flow = facts(cc.Check.Kind, &obs.Subject)
	r.Browser = obs.Subject.Browser
	if !obs.Subject.CertExpiry.IsZero() {
		exp := obs.Subject.CertExpiry.UTC()
		r.CertExpiry = &exp
	}
	r.Outcome = model.OutcomeUp
	if obs.Err != nil && !obs.Degraded {
		r.Outcome = model.OutcomeDown
		r.ErrorClass = obs.Class
		if r.ErrorClass == "" {
			r.ErrorClass = model.ErrInternal
		}
		if errors.Is(obs.Err, context.DeadlineExceeded) || ctx.Err() != nil {
			r.ErrorClass = model.ErrTimeout
		}
		r.HostAnswered = HostAnswered(obs.Err)
		r.ProbeIsolated = obs.ProbeFault
		r.Screenshot = obs.Screenshot
		r.Message = bound(model.RedactSecrets(obs.Err.Error(), cc.Check.Secrets))
		return
	}
	obs.Subject.Latency = elapsed
	obs.Subject.Now = start
	if obs.Degraded {
		r.Outcome, r.ErrorClass, r.Message = model.OutcomeDegraded, obs.Class, bound(obs.Err.Error())
	}
	if len(cc.Asserts) == 0 && cc.Check.Kind == model.KindHTTP {
		if s := obs.Subject.Status; s < 200 || s >= 400 {
			r.Outcome, r.ErrorClass = model.OutcomeDown, model.ErrStatus
			r.Message = fmt.Sprintf("status %d is not 2xx or 3xx", s)
			return
		}
	}
	for _, a := range cc.Asserts {
		if err := a.Eval(&obs.Subject); err != nil {
			r.Outcome, r.ErrorClass = model.OutcomeDown, model.ErrAssertion
			if a.Subject() == "status" {
				r.ErrorClass = model.ErrStatus
			}
			r.Message = bound(err.Error())
			return
		}
	}
	if r.Outcome != model.OutcomeUp {
		return
	}
	for _, a := range cc.Degrade {
		if err := a.Eval(&obs.Subject); err != nil {
			r.Outcome, r.ErrorClass, r.Message = model.OutcomeDegraded, model.ErrAssertion, bound("degraded: "+err.Error())
			return
		}
	}
}

func bound(s string) string {
	// A URL in an error (a check's, with an api_key in its query) keeps
	// no credential.
	s = model.RedactURLs(s)
	if len(s) > model.MaxMessageLen {
		return s[:model.MaxMessageLen-3] + "..."
	}
	return s
}

// facts are what a dns or flow check learned besides its outcome, bounded
// as the controller accepts them.
func facts(kind model.Kind, sub *assertion.Subject) (*model.DNSFacts, *model.FlowFacts) {
	switch kind {
	case model.KindDNS:
		if sub.RCode == "" {
			return nil, nil
		}
		d := &model.DNSFacts{RCode: sub.RCode}
		for _, a := range sub.Answers[:min(len(sub.Answers), model.MaxAnswers)] {
			d.Answers = append(d.Answers, a[:min(len(a), model.MaxAnswerLen)])
		}
		return d, nil
	case model.KindFlow:
		if sub.FlowLevel == "" {
			return nil, nil
		}
		f := &model.FlowFacts{Level: sub.FlowLevel, StepsMS: map[string]float64{}}
		for step, d := range sub.Steps {
			if len(f.StepsMS) < model.MaxSteps {
				f.StepsMS[step] = float64(d.Microseconds()) / 1000
			}
		}
		return nil, f
	}
	return nil, nil
}
