package config

// API configures who may read the controller's JSON API.
type API struct {
	// Private requires a token from alerting.api_tokens for every read
	// endpoint under /api/v1 (status, results, SLOs, alerts, leader). The
	// status page and badges stay public: they show what is meant to be
	// shown.
	Private bool `yaml:"private"`
}

func (v *validator) validateAPI(c *Config) {
	if c.API.Private && len(c.Alerting.APITokens) == 0 {
		v.add("api.private", "needs at least one token in alerting.api_tokens to read the API with")
	}
}
