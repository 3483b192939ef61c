package check

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/nines-sre/nines/model"
)

// systemResolver is the first nameserver of /etc/resolv.conf.
func systemResolver() (string, error) {
	conf, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil {
		return "", fmt.Errorf("no resolver given and /etc/resolv.conf unreadable: %w", err)
	}
	if len(conf.Servers) == 0 {
		return "", errors.New("no resolver given and none in /etc/resolv.conf")
	}
	return conf.Servers[0] + ":" + conf.Port, nil
}

// DNS runs a dns check: one query to one resolver; the answers are kept for
// assertions (`answers contains "192.0.2.1"`), and every expected answer
// must be among them.
func DNS(ctx context.Context, c *model.Check, env Env) Observation {
	var obs Observation
	spec := c.DNS
	if spec == nil {
		return Observation{Class: model.ErrInternal, Err: errors.New("dns check without a dns block")}
	}
	qtype, ok := dns.StringToType[strings.ToUpper(spec.Type)]
	if !ok {
		return Observation{Class: model.ErrInternal, Err: fmt.Errorf("unknown query type %q", spec.Type)}
	}
	server := spec.Resolver
	if server == "" {
		var err error
		if server, err = systemResolver(); err != nil {
			return Observation{Class: model.ErrDNS, Err: err}
		}
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(spec.Name), qtype)
	m.RecursionDesired = true
	cl := &dns.Client{Net: spec.Protocol}
	resp, rtt, err := cl.ExchangeContext(ctx, m, server)
	obs.Phases.TTFB = rtt.Microseconds()
	if err != nil {
		obs.Class, obs.Err = model.ErrDNS, fmt.Errorf("query %s %s at %s: %w", spec.Type, spec.Name, server, err)
		if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			obs.Class = model.ErrTimeout
		}
		return obs
	}
	obs.Subject.RCode = dns.RcodeToString[resp.Rcode]
	for _, rr := range resp.Answer {
		if rr.Header().Rrtype != qtype {
			continue // the CNAME chain that led to the answer
		}
		obs.Subject.Answers = append(obs.Subject.Answers, strings.TrimPrefix(rr.String(), rr.Header().String()))
	}
	obs.Subject.Body = []byte(strings.Join(obs.Subject.Answers, "\n"))
	obs.Subject.Size = int64(resp.Len())
	if resp.Rcode != dns.RcodeSuccess {
		obs.Class, obs.Err = model.ErrDNS, fmt.Errorf("%s %s: %s", spec.Type, spec.Name, obs.Subject.RCode)
		return obs
	}
	for _, want := range spec.Expect {
		if !slices.ContainsFunc(obs.Subject.Answers, func(a string) bool { return strings.EqualFold(dns.Fqdn(a), dns.Fqdn(want)) || a == want }) {
			obs.Class, obs.Err = model.ErrAssertion, fmt.Errorf("expected answer %q, got %q", want, obs.Subject.Answers)
			return obs
		}
	}
	return obs
}
