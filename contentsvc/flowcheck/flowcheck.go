// Package flowcheck is the flow check kind: contentsvc's SDK path run as
// a user's app runs it. It lives beside the SDK and registers itself with
// the probe's check runtime when imported, so that the generic probe does
// not depend on the system under test.
package flowcheck

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/nines-sre/nines/contentsvc/sdk"
	"github.com/nines-sre/nines/model"
	"github.com/nines-sre/nines/probe/check"
)

func init() { check.Register(model.KindFlow, Run) }

// Run runs contentsvc's SDK path as a user would. Fresh is up; cached
// (possibly stale) and default (segments unknown) are degraded; empty is
// down.
func Run(ctx context.Context, c *model.Check, env check.Env) check.Observation {
	var obs check.Observation
	spec := c.Flow
	if spec == nil {
		return check.Observation{Class: model.ErrInternal, Err: errors.New("flow check without a flow block")}
	}
	// One SDK client per check, kept by the probe's runner, so that its
	// caches carry from run to run like a returning user's app: when the
	// service fails, the check sees what that user sees (cached, default
	// or nothing). A fresh connection for every request, as the probe's
	// other kinds do, so that each run meets the service as a new visit.
	key := env.Region + "\x00" + spec.URL + "\x00" + spec.CDNURL + "\x00" + spec.UserID
	cl := env.Keep(c.ID, key, func() any {
		h := http.Header{}
		if env.Region != "" {
			h.Set(model.RegionHeader, env.Region)
		}
		if env.UserAgent != "" {
			h.Set("User-Agent", env.UserAgent)
		}
		tr := &http.Transport{Proxy: http.ProxyFromEnvironment, DisableKeepAlives: true}
		return sdk.New(sdk.Options{BaseURL: spec.URL, CDNURL: spec.CDNURL, SegmentTimeout: spec.SegmentTimeout,
			HTTP: &http.Client{Transport: tr}, Header: h})
	}).(*sdk.Client)
	r := cl.Render(ctx, spec.UserID, spec.Attributes)
	obs.Subject.FlowLevel = string(r.Level)
	obs.Subject.Steps = r.Steps
	obs.Subject.Size = int64(len(r.Items))
	obs.Phases.TTFB = r.Steps["segments"].Microseconds()
	obs.Phases.Transfer = (r.Steps["manifest"] + r.Steps["content"]).Microseconds()
	var msgs []string
	for _, e := range r.Errors {
		msgs = append(msgs, e.Error())
	}
	detail := errors.New(string(r.Level) + ": " + strings.Join(msgs, "; "))
	switch r.Level {
	case sdk.Fresh:
	case sdk.Empty:
		obs.Class, obs.Err = flowClass(r.Errors), detail
	default:
		obs.Degraded, obs.Class, obs.Err = true, flowClass(r.Errors), detail
	}
	return obs
}

// flowClass names the first failure's class.
func flowClass(errs []error) model.ErrorClass {
	if len(errs) == 0 {
		return model.ErrAssertion
	}
	if strings.Contains(errs[0].Error(), "status ") {
		return model.ErrStatus
	}
	return check.Classify(errs[0])
}
