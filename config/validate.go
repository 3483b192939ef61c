package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"

	"github.com/nines-sre/nines/assertion"
	"github.com/nines-sre/nines/model"
)

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// validator collects every problem with its line, found from the field path.
type validator struct {
	file  string
	root  *yaml.Node
	errs  Errors
	warns Errors
	// broken holds the top-level sections that did not decode: what refers
	// into them is not checked, so one mistake is reported once.
	broken map[string]bool
	// certAsserts holds the cert.expires_in assertions of each check,
	// found while checking them: path → text.
	certAsserts map[string][][2]string
}

// sound reports whether a top-level section decoded, so that references
// into it can be checked.
func (v *validator) sound(section string) bool { return !v.broken[section] }

// top is the document's top-level node.
func top(root *yaml.Node) *yaml.Node {
	if root != nil && root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		return root.Content[0]
	}
	return root
}

// sectionAt returns the top-level key whose block holds line.
func sectionAt(root *yaml.Node, line int) string {
	n := top(root)
	section := ""
	if n != nil && n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Line <= line {
				section = n.Content[i].Value
			}
		}
	}
	return section
}

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, v.at(path, format, args...))
}

// warn records what loads but will probably not do what was meant.
func (v *validator) warn(path, format string, args ...any) {
	v.warns = append(v.warns, v.at(path, format, args...))
}

func (v *validator) at(path, format string, args ...any) FieldError {
	return FieldError{File: v.file, Line: v.line(path), Field: path, Msg: fmt.Sprintf(format, args...)}
}

// line finds the line of a field path such as components[0].checks[1].http.url;
// where the field itself is absent it falls back to its nearest parent.
// id checks that id is a valid id not seen before among its kind (what),
// and records it.
func (v *validator) id(path, what, id string, seen map[string]bool) {
	switch {
	case !idPattern.MatchString(id):
		v.add(path, "%q is not a valid id (lower-case letters, digits, '.', '_', '-')", id)
	case seen[id]:
		v.add(path, "%s %q is defined twice", what, id)
	}
	seen[id] = true
}

func (v *validator) line(path string) int {
	n := top(v.root)
	line := 0
	if n != nil {
		line = n.Line
	}
	for _, part := range splitPath(path) {
		if n == nil {
			break
		}
		var next *yaml.Node
		if idx, err := strconv.Atoi(part); err == nil {
			if n.Kind == yaml.SequenceNode && idx < len(n.Content) {
				next = n.Content[idx]
			}
		} else if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == part {
					next = n.Content[i+1]
					line = n.Content[i].Line
					break
				}
			}
		}
		if next == nil {
			break
		}
		n = next
		line = n.Line
	}
	return line
}

func splitPath(path string) []string {
	path = strings.NewReplacer("[", ".", "]", "").Replace(path)
	return strings.FieldsFunc(path, func(r rune) bool { return r == '.' })
}

func (v *validator) validate(c *Config, dir string) {
	regions := map[string]bool{}
	if len(c.Regions) == 0 {
		v.add("regions", "at least one region is required")
	}
	for i, r := range c.Regions {
		v.id(fmt.Sprintf("regions[%d].id", i), "region", r.ID, regions)
	}
	if c.Quorum < 1 {
		v.add("quorum", "must be at least 1, got %d", c.Quorum)
	} else if c.Quorum > len(c.Regions) && len(c.Regions) > 0 && v.sound("regions") {
		v.add("quorum", "%d is more than the %d regions defined", c.Quorum, len(c.Regions))
	}
	if c.Probes.HeartbeatInterval.D() <= 0 {
		v.add("probes.heartbeat_interval", "must be positive")
	}
	if c.Probes.MissedHeartbeats < 1 {
		v.add("probes.missed_heartbeats", "must be at least 1")
	}
	if c.Probes.MaxPerRegion < 1 || c.Probes.MaxPerRegion > 10000 {
		v.add("probes.max_per_region", "%d is not from 1 to 10000", c.Probes.MaxPerRegion)
	}
	if len(c.Probes.Tokens) == 0 {
		v.add("probes.tokens", "at least one probe token is required")
	}
	tokens := map[[32]byte]string{}
	for i := range c.Probes.Tokens {
		t := &c.Probes.Tokens[i]
		p := fmt.Sprintf("probes.tokens[%d]", i)
		if !regions[t.Region] && v.sound("regions") {
			v.add(p+".region", "unknown region %q", t.Region)
		}
		set := 0
		for _, v := range []string{t.Token, t.TokenFile, t.TokenSHA256} {
			if v != "" {
				set++
			}
		}
		if set != 1 {
			v.add(p, "set exactly one of token, token_file and token_sha256")
			continue
		}
		if t.TokenFile != "" {
			tok, err := readSecret(dir, t.TokenFile)
			if err != nil {
				v.add(p+".token_file", "cannot read: %v", err)
				continue
			}
			t.Token = tok
		}
		if t.TokenSHA256 != "" {
			h, err := hex.DecodeString(t.TokenSHA256)
			if err != nil || len(h) != sha256.Size {
				v.add(p+".token_sha256", "must be 64 hexadecimal digits: the SHA-256 of the token (`printf %%s TOKEN | sha256sum`)")
				continue
			}
			copy(t.hash[:], h)
		} else {
			if len(t.Token) < 16 {
				v.add(p+".token", "must be at least 16 characters")
			} else if Placeholder(t.Token) {
				v.add(p+".token", placeholderMsg)
			}
			t.hash = sha256.Sum256([]byte(t.Token))
		}
		if other, dup := tokens[t.hash]; dup {
			v.add(p+".token", "the same token is already used by %s", other)
		}
		for k, id := range t.Probes {
			if !probeIDPattern.MatchString(id) {
				v.add(fmt.Sprintf("%s.probes[%d]", p, k), "%q is not a probe id (1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit)", id)
			}
		}
		tokens[t.hash] = p
	}
	if c.Defaults.Interval.D() <= 0 {
		v.add("defaults.interval", "must be positive")
	} else if c.Defaults.Timeout >= c.Defaults.Interval {
		v.add("defaults.timeout", "%s is not shorter than the interval %s: a run would still go on when the next is due", c.Defaults.Timeout, c.Defaults.Interval)
	}
	comps := map[string]bool{}
	checks := map[string]string{}
	for i := range c.Components {
		comp := &c.Components[i]
		p := fmt.Sprintf("components[%d]", i)
		v.id(p+".id", "component", comp.ID, comps)
		switch comp.Banner {
		case "", BannerFull, BannerDegraded, BannerNone:
		default:
			v.add(p+".banner", "%q is not full, degraded or none", comp.Banner)
		}
		if len(comp.Group) > 100 {
			v.add(p+".group", "a group name is at most 100 characters")
		} else if comp.Group != "" && comp.GroupID() == "group-" {
			v.add(p+".group", "%q has no letter or digit to name the group by", comp.Group)
		}
		if len(comp.Checks) == 0 {
			v.add(p+".checks", "a component needs at least one check")
		}
		for j := range comp.Checks {
			cp := fmt.Sprintf("%s.checks[%d]", p, j)
			ch := &comp.Checks[j]
			if !idPattern.MatchString(ch.ID) {
				v.add(cp+".id", "%q is not a valid id (lower-case letters, digits, '.', '_', '-')", ch.ID)
			} else if prev, dup := checks[ch.ID]; dup {
				v.add(cp+".id", "check %q is already defined at %s", ch.ID, prev)
			}
			checks[ch.ID] = cp
			v.validateCheck(c, ch, cp, regions, dir)
		}
	}
	v.validateSLOs(c, checks, dir)
	v.validateAlerting(c, dir)
	v.validateDashboard(c)
	v.validateAPI(c)
	v.validateNATS(c)
	v.warnExpiryPages(c)
}

// warnExpiryPages warns about a certificate expiry assertion on a check
// that pages when it fails: a certificate days from expiry then makes the
// check down and pages on-call as an outage, when it is a ticket
// (cert_expiry) for the days still left.
func (v *validator) warnExpiryPages(c *Config) {
	for i := range c.Alerting.Rules {
		r := &c.Alerting.Rules[i]
		if r.Kind != RuleCheckDown || r.Urgency != "high" {
			continue
		}
		for _, ch := range c.RuleChecks(r) {
			for _, a := range v.certAsserts[ch.ID] {
				v.warn(a[0], "%q makes an expiring certificate an outage that pages (rule %s); a cert_expiry rule raises a ticket instead", a[1], r.ID)
			}
		}
	}
}

func (v *validator) validateCheck(c *Config, ch *Check, p string, regions map[string]bool, dir string) {
	if ch.Kind == string(model.KindHeartbeat) {
		v.validateHeartbeat(ch, p)
	}
	if ch.Interval.D() < 0 {
		v.add(p+".interval", "must be positive")
	} else if ch.Interval.D() > 0 && ch.Interval.D() < 1e9 {
		v.add(p+".interval", "%s is shorter than the 1s minimum", ch.Interval)
	}
	if ch.Timeout.D() <= 0 {
		v.add(p+".timeout", "must be positive")
	} else if ch.Cron == "" && ch.Timeout > ch.Interval {
		v.add(p+".timeout", "%s is longer than the interval %s", ch.Timeout, ch.Interval)
	}
	if ch.Cron != "" {
		if _, err := cron.ParseStandard(ch.Cron); err != nil {
			v.add(p+".cron", "%v", err)
		} else {
			ch.cronPeriod = cronPeriod(ch.Cron)
		}
	}
	for k, r := range ch.Regions {
		if !regions[r] && v.sound("regions") {
			v.add(fmt.Sprintf("%s.regions[%d]", p, k), "unknown region %q", r)
		}
	}
	if ch.Quorum < 0 {
		v.add(p+".quorum", "must not be negative")
	} else if q := c.CheckQuorum(ch); q > len(c.CheckRegions(ch)) && v.sound("regions") {
		v.add(p+".quorum", "%d is more than the %d regions that run this check", q, len(c.CheckRegions(ch)))
	}
	all := append(slices.Clone(ch.Assert), ch.Degrade...)
	for k, a := range all {
		ap := fmt.Sprintf("%s.assert[%d]", p, k)
		if k >= len(ch.Assert) {
			ap = fmt.Sprintf("%s.degrade[%d]", p, k-len(ch.Assert))
		}
		parsed, err := assertion.Parse(a)
		if err != nil {
			v.add(ap, "%v", err)
			continue
		}
		if subs := assertion.Subjects(model.Kind(ch.Kind)); len(subs) > 0 && !slices.Contains(subs, parsed.Subject()) {
			v.add(ap, "a %s check has no %s to assert on (it has %s)", ch.Kind, parsed.Subject(), strings.Join(subs, ", "))
		}
		if parsed.Subject() == "cert" && k < len(ch.Assert) {
			if v.certAsserts == nil {
				v.certAsserts = map[string][][2]string{}
			}
			v.certAsserts[ch.ID] = append(v.certAsserts[ch.ID], [2]string{ap, a})
		}
	}
	v.validateKind(ch, p, dir)
}

// readSecret reads a secret from file f, relative to the configuration's
// directory, without the white space around it.
func readSecret(dir, f string) (string, error) {
	if !filepath.IsAbs(f) {
		f = filepath.Join(dir, f)
	}
	b, err := os.ReadFile(f)
	return strings.TrimSpace(string(b)), err
}

// probeIDPattern is what a probe id may be.
var probeIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidProbeID reports whether id may name a probe.
func ValidProbeID(id string) bool { return probeIDPattern.MatchString(id) }

// placeholderMsg says why a placeholder secret is refused.
const placeholderMsg = "is a placeholder (as in configs/example.yaml): make a secret of your own, e.g. `openssl rand -hex 24`"

// Placeholder reports whether a secret is one of the words that stand in
// for a secret in examples ("change-me…", "replace-me", "placeholder"),
// or one character repeated: anyone who read the example knows it.
func Placeholder(secret string) bool {
	s := strings.ToLower(secret)
	for _, w := range []string{"change-me", "changeme", "change_me", "replace-me", "replaceme", "placeholder", "your-token", "your-key", "example-token"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return strings.Count(s, s[:1]) == len(s)
}
