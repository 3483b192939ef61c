package config

import (
	"slices"

	"github.com/nines-sre/nines/transport"
)

// NATS configures how this deployment shares a NATS server (the URL is the
// controller's and probes' --nats flag).
type NATS struct {
	// Deployment names this deployment's stream, subjects and durable
	// consumer, so that several deployments share one NATS server without
	// touching each other's results; subject permissions can then be
	// granted on nines.batches.<deployment>.>. Without it each probe
	// token has a scope of its own, named after a digest of the token.
	Deployment string `yaml:"deployment"`
}

func (v *validator) validateNATS(c *Config) {
	if c.NATS.Deployment != "" {
		if err := transport.CheckScope(c.NATS.Deployment); err != nil {
			v.add("nats.deployment", "%v", err)
		}
	}
}

// NATSScopes are the scopes this deployment's results are published in:
// the configured deployment's, or each probe token's own.
func (c *Config) NATSScopes() []string {
	if c.NATS.Deployment != "" {
		return []string{c.NATS.Deployment}
	}
	var scopes []string
	for i := range c.Probes.Tokens {
		if s := transport.TokenScope(c.Probes.Tokens[i].Hash()); !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	return scopes
}
