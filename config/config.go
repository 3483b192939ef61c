// Package config loads, validates and defaults the controller's YAML
// configuration: regions, probe tokens, components with their checks, and
// quorum. Errors name the file, the line and the field.
package config

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/nines-sre/nines/model"
)

// Defaults in one place.
const (
	DefaultInterval          = time.Minute
	DefaultTimeout           = 10 * time.Second
	DefaultQuorum            = 2
	DefaultHeartbeatInterval = 10 * time.Second
	DefaultMissedHeartbeats  = 3
)

// Config is the whole controller configuration.
type Config struct {
	Regions  []Region `yaml:"regions"`
	Probes   Probes   `yaml:"probes"`
	Defaults Defaults `yaml:"defaults"`
	Quorum   int      `yaml:"quorum"`
	// ConfirmOnDemand (on unless false) asks the regions to run a check at
	// once when a healthy region reports it down while it is up.
	ConfirmOnDemand *bool       `yaml:"confirm_on_demand"`
	Components      []Component `yaml:"components"`
	SLOs            []SLO       `yaml:"slos"`
	// Maintenance windows exclude minutes from SLOs and silence alerts.
	Maintenance []Maintenance `yaml:"maintenance"`
	Alerting    Alerting      `yaml:"alerting"`
	Dashboard   Dashboard     `yaml:"dashboard"`
	API         API           `yaml:"api"`
	NATS        NATS          `yaml:"nats"`

	// Version is a hash of the effective configuration.
	Version string `yaml:"-"`
	// Warnings are what loads but will probably not do what was meant
	// (an expiring certificate that pages as an outage, say).
	Warnings Errors `yaml:"-"`
	// File is where the configuration was read from.
	File string `yaml:"-"`

	// Indexes, built once at load: ingest, slicing and alerting look checks
	// up by id for every result and every tick.
	checkByID     map[string]*Check
	componentOf   map[string]string
	componentByID map[string]*Component
	regionIDs     []string
}

// index builds the lookups by check id.
func (c *Config) index() {
	c.checkByID, c.componentOf, c.componentByID = map[string]*Check{}, map[string]string{}, map[string]*Component{}
	c.regionIDs = make([]string, len(c.Regions))
	for i, r := range c.Regions {
		c.regionIDs[i] = r.ID
	}
	for i := range c.Components {
		if _, dup := c.componentByID[c.Components[i].ID]; !dup {
			c.componentByID[c.Components[i].ID] = &c.Components[i]
		}
		for j := range c.Components[i].Checks {
			ch := &c.Components[i].Checks[j]
			if _, dup := c.checkByID[ch.ID]; !dup {
				c.checkByID[ch.ID], c.componentOf[ch.ID] = ch, c.Components[i].ID
			}
		}
	}
}

// Region is one place probes run from.
type Region struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	// Continent groups regions that share a fate (a continent's network):
	// a confirmation asks other continents first. By default it follows
	// the id's first word: ca-, us-, sa- and mx- are the Americas; eu-
	// and uk- Europe; ap-, au-, jp- and in- Asia-Pacific; me- and af-
	// theirs; any other first word is a continent of its own.
	Continent string `yaml:"continent"`
}

// continents maps the first word of a region id to its continent.
var continents = map[string]string{"ca": "americas", "us": "americas", "sa": "americas", "mx": "americas", "eu": "europe", "uk": "europe",
	"ap": "asia-pacific", "au": "asia-pacific", "jp": "asia-pacific", "in": "asia-pacific", "me": "middle-east", "af": "africa"}

// ContinentOf is the continent of region.
func (c *Config) ContinentOf(region string) string {
	for i := range c.Regions {
		if c.Regions[i].ID == region && c.Regions[i].Continent != "" {
			return c.Regions[i].Continent
		}
	}
	first, _, _ := strings.Cut(region, "-")
	if k, ok := continents[first]; ok {
		return k
	}
	return first
}

// Probes configures how probes authenticate and how their health is judged.
type Probes struct {
	HeartbeatInterval Duration `yaml:"heartbeat_interval"`
	MissedHeartbeats  int      `yaml:"missed_heartbeats"`
	Tokens            []Token  `yaml:"tokens"`
	// RateLimit bounds the requests each probe token may make per second
	// (default 20, with bursts of twice that).
	RateLimit float64 `yaml:"rate_limit"`
	// MaxPerRegion bounds the probes one region may have at once (default
	// 16): a leaked region token cannot register probes without end.
	MaxPerRegion int `yaml:"max_per_region"`
}

// DefaultMaxProbesPerRegion is probes.max_per_region's default.
const DefaultMaxProbesPerRegion = 16

// ForgetAfter is how long a probe may stay silent before it is forgotten,
// with its metric series: ten heartbeats, and never under a minute.
func (c *Config) ForgetAfter() time.Duration {
	return max(10*c.Probes.HeartbeatInterval.D(), time.Minute)
}

// Token authenticates probes of one region.
type Token struct {
	Region    string `yaml:"region"`
	Token     string `yaml:"token"`
	TokenFile string `yaml:"token_file"`
	// TokenSHA256 is the token's SHA-256 in hex, so that the configuration
	// need not hold the token itself.
	TokenSHA256 string `yaml:"token_sha256"`
	// Probes, when set, are the only probe ids that may register with the
	// token: a holder of the token cannot then make up ids and take
	// checks from the region's probes.
	Probes []string `yaml:"probes"`

	hash [32]byte
}

// Hash is the SHA-256 of the token, which is what requests are compared with.
func (t *Token) Hash() [32]byte { return t.hash }

// Defaults apply to every check that leaves the field out.
type Defaults struct {
	Interval Duration `yaml:"interval"`
	Timeout  Duration `yaml:"timeout"`
}

// Component is a part of the product shown on the status page.
type Component struct {
	ID          string  `yaml:"id"`
	Name        string  `yaml:"name"`
	Description string  `yaml:"description"`
	Checks      []Check `yaml:"checks"`
	// Public: false keeps the component off every public surface (the
	// status page, its history and feeds, badges, the status and v2 APIs,
	// subscriptions); the SRE view shows it. Its outages page on-call as
	// any other, and open no public incident.
	Public *bool `yaml:"public"`
	// Group names the group the status page shows the component in
	// (Statuspage's component groups).
	Group string `yaml:"group"`
	// Banner says how far the component's outage reaches the page's
	// banner: full (the default), degraded (degraded performance at
	// worst: a background job) or none. The component's own status is
	// shown as it is.
	Banner string `yaml:"banner"`
}

// Banner values of a component.
const (
	BannerFull     = "full"
	BannerDegraded = "degraded"
	BannerNone     = "none"
)

// IsPublic reports whether the component is shown to the public.
func (c *Component) IsPublic() bool { return c.Public == nil || *c.Public }

// GroupID is the id of the component's group ("" with none): the group's
// name in lower case, words joined by '-'.
func (c *Component) GroupID() string {
	if c.Group == "" {
		return ""
	}
	return "group-" + strings.Join(strings.FieldsFunc(strings.ToLower(c.Group), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	}), "-")
}

// Check is one monitored target. Exactly one kind block matches Kind.
type Check struct {
	ID       string   `yaml:"id"`
	Name     string   `yaml:"name"`
	Kind     string   `yaml:"kind"`
	Interval Duration `yaml:"interval"`
	Cron     string   `yaml:"cron"`
	Timeout  Duration `yaml:"timeout"`
	Regions  []string `yaml:"regions"`
	Quorum   int      `yaml:"quorum"`
	Assert   []string `yaml:"assert"`
	// Degrade are assertions whose failure makes a run degraded (users
	// served worse than they should be), not down.
	Degrade []string `yaml:"degrade"`
	// DependsOn names checks this one needs: while one of them is down, this
	// check's alerts fold into that incident instead of paging again.
	DependsOn []string `yaml:"depends_on"`

	HTTP *HTTP `yaml:"http"`
	TCP  *TCP  `yaml:"tcp"`
	DNS  *DNS  `yaml:"dns"`
	TLS  *TLS  `yaml:"tls"`
	CDN  *CDN  `yaml:"cdn"`
	Flow *Flow `yaml:"flow"`
	// Browser drives Chromium on probes started with one (--browser).
	Browser *Browser `yaml:"browser"`
	// Heartbeat is a push check's: the job reports in (heartbeat.go).
	Heartbeat *Heartbeat `yaml:"heartbeat"`

	// cronPeriod is the time between two runs of a cron check, from its
	// spec as parsed once at load.
	cronPeriod time.Duration
}

// Period is the time between two runs of the check: its interval, or for
// a cron check the gap between the spec's first two runs.
func (ch *Check) Period() time.Duration {
	if h := ch.Heartbeat; h != nil && h.Cron == "" {
		return h.Period.D()
	}
	if ch.Cron == "" && ch.Heartbeat == nil {
		return ch.Interval.D()
	}
	if ch.cronPeriod > 0 {
		return ch.cronPeriod
	}
	if ch.Heartbeat != nil {
		return cronPeriod(ch.Heartbeat.Cron)
	}
	return cronPeriod(ch.Cron) // a Check not loaded by Parse
}

// Fresh is how long a result speaks for its region after it was
// scheduled: two periods (one missed run is not silence), the timeout, and
// five seconds of shipping. An older newest result says nothing.
func (ch *Check) Fresh() time.Duration {
	if h := ch.Heartbeat; h != nil {
		// A ping speaks until the next is due; then the controller
		// records the miss, backdated to the deadline (heartbeatSlack
		// covers the time it takes to notice).
		return ch.Period() + h.Grace.D() + heartbeatSlack
	}
	return 2*ch.Period() + ch.Timeout.D() + 5*time.Second
}

// cronPeriod is the gap between the first two runs of spec after the Unix
// epoch; 0 when spec does not parse.
func cronPeriod(spec string) time.Duration {
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return 0
	}
	t := s.Next(time.Unix(0, 0).UTC())
	return s.Next(t).Sub(t)
}

// Duration is a time.Duration written as "30s" or "1m" in YAML.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// AllChecks returns every check with the component it belongs to, in file order.
func (c *Config) AllChecks() []*Check {
	var out []*Check
	for i := range c.Components {
		for j := range c.Components[i].Checks {
			out = append(out, &c.Components[i].Checks[j])
		}
	}
	return out
}

// Check returns the check with id, or nil.
func (c *Config) Check(id string) *Check { return c.checkByID[id] }

// Component returns the component with id, or nil.
func (c *Config) Component(id string) *Component { return c.componentByID[id] }

// ComponentOf returns the id of the component that holds check, or "".
func (c *Config) ComponentOf(check string) string { return c.componentOf[check] }

// RegionIndex returns the position of region id in the configuration, or -1.
func (c *Config) RegionIndex(id string) int {
	for i, r := range c.Regions {
		if r.ID == id {
			return i
		}
	}
	return -1
}

// TokenRegion returns the region a probe token belongs to ("" when none)
// and the token's digest; the comparison takes the same time whatever the
// token.
func (c *Config) TokenRegion(tok string) (string, [32]byte) {
	region := ""
	sum := sha256.Sum256([]byte(tok))
	for _, t := range c.Probes.Tokens {
		want := t.Hash()
		if subtle.ConstantTimeCompare(sum[:], want[:]) == 1 {
			region = t.Region
		}
	}
	return region, sum
}

// TokenAllows reports whether the probe token whose SHA-256 is sum lets
// probe register (every id, unless the token names its probes).
func (c *Config) TokenAllows(sum [32]byte, probe string) bool {
	for _, t := range c.Probes.Tokens {
		if t.hash == sum {
			return len(t.Probes) == 0 || slices.Contains(t.Probes, probe)
		}
	}
	return false
}

// NamedProbe reports whether a probe token names probe among the probes
// that may use it.
func (c *Config) NamedProbe(probe string) bool {
	for _, t := range c.Probes.Tokens {
		if slices.Contains(t.Probes, probe) {
			return true
		}
	}
	return false
}

// KeyRegion returns the region of the probe token whose signing key
// (model.NATSKeyID of its SHA-256) is keyID, and that SHA-256; "" when no
// token has it.
func (c *Config) KeyRegion(keyID string) (string, [32]byte) {
	for _, t := range c.Probes.Tokens {
		h := t.Hash()
		if subtle.ConstantTimeCompare([]byte(model.NATSKeyID(h)), []byte(keyID)) == 1 {
			return t.Region, h
		}
	}
	return "", [32]byte{}
}

// RegionIDs returns the ids of the regions in configuration order; callers
// must not modify it.
func (c *Config) RegionIDs() []string { return c.regionIDs }

// CheckRegions returns the regions that run ch; callers must not modify it.
func (c *Config) CheckRegions(ch *Check) []string {
	if ch.Heartbeat != nil {
		return pushRegions
	}
	if len(ch.Regions) > 0 {
		return ch.Regions
	}
	return c.regionIDs
}

// ConfirmsOnDemand reports whether a failure asks for a confirmation
// round (ConfirmOnDemand, on by default).
func (c *Config) ConfirmsOnDemand() bool { return c.ConfirmOnDemand == nil || *c.ConfirmOnDemand }

// CheckQuorum returns the number of failing regions that confirm ch down.
func (c *Config) CheckQuorum(ch *Check) int {
	if ch.Heartbeat != nil {
		return 1
	}
	if ch.Quorum > 0 {
		return ch.Quorum
	}
	return c.Quorum
}

// Model converts ch to the form a probe in region runs: defaults applied,
// start spread by a hash of the id, and regions staggered by interval/n.
// Secrets are the parts of ch's URL marked secret ({secret:…}).
func (ch *Check) Secrets() []string {
	if ch.HTTP != nil {
		return ch.HTTP.secrets
	}
	return nil
}

func (c *Config) Model(ch *Check, region string) model.Check {
	m := model.Check{
		ID:       ch.ID,
		Kind:     model.Kind(ch.Kind),
		Interval: ch.Interval.D(),
		Cron:     ch.Cron,
		Timeout:  ch.Timeout.D(),
		Asserts:  ch.Assert,
		Degrade:  ch.Degrade,
	}
	if ch.Cron == "" {
		m.Offset = Offset(ch.ID, m.Interval, c.RegionIndex(region), len(c.Regions))
	}
	if spec := ch.spec(); spec != nil {
		spec.fill(&m)
	}
	return m
}

// Offset places a check within its interval: a deterministic spread from the
// hash of its id, plus regionIndex × interval / regions, so that the regions
// take turns and some region probes every target every interval/regions.
func Offset(checkID string, interval time.Duration, regionIndex, regions int) time.Duration {
	if interval <= 0 {
		return 0
	}
	sum := sha256.Sum256([]byte(checkID))
	var h uint64
	for _, b := range sum[:8] {
		h = h<<8 | uint64(b)
	}
	ms := interval.Milliseconds()
	if ms <= 0 {
		return 0
	}
	off := time.Duration(h%uint64(ms)) * time.Millisecond
	if regions > 0 && regionIndex > 0 {
		off += interval * time.Duration(regionIndex) / time.Duration(regions)
	}
	return off % interval
}

// computeVersion hashes the effective configuration, tokens excluded.
func (c *Config) computeVersion() {
	cp := *c
	cp.Probes.Tokens = nil
	b, _ := json.Marshal(cp)
	sum := sha256.Sum256(b)
	c.Version = hex.EncodeToString(sum[:6])
}

// applyDefaults fills every field left out.
func (c *Config) applyDefaults() {
	if c.Quorum == 0 {
		c.Quorum = DefaultQuorum
	}
	if c.Defaults.Interval == 0 {
		c.Defaults.Interval = Duration(DefaultInterval)
	}
	if c.Defaults.Timeout == 0 {
		c.Defaults.Timeout = Duration(DefaultTimeout)
	}
	if c.Probes.HeartbeatInterval == 0 {
		c.Probes.HeartbeatInterval = Duration(DefaultHeartbeatInterval)
	}
	if c.Probes.MissedHeartbeats == 0 {
		c.Probes.MissedHeartbeats = DefaultMissedHeartbeats
	}
	if c.Probes.RateLimit == 0 {
		c.Probes.RateLimit = 20
	}
	if c.Probes.MaxPerRegion == 0 {
		c.Probes.MaxPerRegion = DefaultMaxProbesPerRegion
	}
	for _, ch := range c.AllChecks() {
		if ch.Interval == 0 {
			ch.Interval = c.Defaults.Interval
		}
		if ch.Timeout == 0 {
			ch.Timeout = min(c.Defaults.Timeout, ch.Interval)
		}
		if ch.Name == "" {
			ch.Name = ch.ID
		}
		if spec := ch.spec(); spec != nil {
			spec.defaults()
		}
	}
	for i := range c.Regions {
		if c.Regions[i].Name == "" {
			c.Regions[i].Name = c.Regions[i].ID
		}
	}
	for i := range c.Components {
		if c.Components[i].Name == "" {
			c.Components[i].Name = c.Components[i].ID
		}
	}
}

// UnhealthyAfter is how long a probe may stay silent before it is unhealthy.
func (c *Config) UnhealthyAfter() time.Duration {
	return c.Probes.HeartbeatInterval.D() * time.Duration(c.Probes.MissedHeartbeats)
}

// String renders d the way it is written in YAML.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as a string, for the version hash and APIs.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

var _ fmt.Stringer = Duration(0)
