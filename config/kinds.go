package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/miekg/dns"

	"github.com/nines-sre/nines/model"
)

// kindSpec is the block of one check kind: defaults, validation, and the
// form a probe receives. Adding a kind adds its type here and a line to
// kinds.
type kindSpec interface {
	defaults()
	validate(v *validator, path, dir string)
	fill(m *model.Check)
}

// kinds names every kind and finds its block in a check.
var kinds = map[string]func(*Check) kindSpec{
	"http":      func(c *Check) kindSpec { return nilOr(c.HTTP) },
	"tcp":       func(c *Check) kindSpec { return nilOr(c.TCP) },
	"dns":       func(c *Check) kindSpec { return nilOr(c.DNS) },
	"tls":       func(c *Check) kindSpec { return nilOr(c.TLS) },
	"cdn":       func(c *Check) kindSpec { return nilOr(c.CDN) },
	"flow":      func(c *Check) kindSpec { return nilOr(c.Flow) },
	"browser":   func(c *Check) kindSpec { return nilOr(c.Browser) },
	"heartbeat": func(c *Check) kindSpec { return nilOr(c.Heartbeat) },
}

// kindNames lists the kinds for error messages.
const kindNames = "http, tcp, dns, tls, cdn, flow, browser, heartbeat"

func nilOr[T any, P interface {
	*T
	kindSpec
}](p P) kindSpec {
	if p == nil {
		return nil
	}
	return p
}

// spec returns the block matching the check's kind, or nil.
func (c *Check) spec() kindSpec {
	if f, ok := kinds[c.Kind]; ok {
		return f(c)
	}
	return nil
}

// validateKind checks that exactly the block of the check's kind is set.
func (v *validator) validateKind(ch *Check, p, dir string) {
	f, ok := kinds[ch.Kind]
	switch {
	case ch.Kind == "":
		v.add(p+".kind", "is required (%s)", kindNames)
		return
	case !ok:
		v.add(p+".kind", "%q is not a known check kind (%s)", ch.Kind, kindNames)
		return
	}
	for name, other := range kinds {
		if name != ch.Kind && other(ch) != nil {
			v.add(p+"."+name, "a %s check takes a %s block, not %s", ch.Kind, ch.Kind, name)
		}
	}
	spec := f(ch)
	if spec == nil {
		v.add(p+"."+ch.Kind, "a %s check needs a %s block", ch.Kind, ch.Kind)
		return
	}
	spec.validate(v, p+"."+ch.Kind, dir)
}

// HTTP is the request of an http check.
type HTTP struct {
	URL                string            `yaml:"url"`
	Method             string            `yaml:"method"`
	Headers            map[string]string `yaml:"headers"`
	Body               string            `yaml:"body"`
	FollowRedirects    *bool             `yaml:"follow_redirects"`
	KeepAlive          bool              `yaml:"keep_alive"`
	InsecureSkipVerify bool              `yaml:"insecure_skip_verify"`
	Proxy              string            `yaml:"proxy"`

	// secrets are the parts of URL marked {secret:…}: a credential in a
	// path (a healthchecks-style ping URL, a token segment) is run as it
	// is, and redacted wherever a message or URL of the check is shown.
	secrets []string
}

// secretMark marks a secret part of a check URL: {secret:VALUE}.
var secretMark = regexp.MustCompile(`\{secret:([^{}]+)\}`)

func (h *HTTP) defaults() {
	if h.Method == "" {
		h.Method = "GET"
	}
	h.secrets = nil
	for _, m := range secretMark.FindAllStringSubmatch(h.URL, -1) {
		h.secrets = append(h.secrets, m[1])
	}
	h.URL = secretMark.ReplaceAllString(h.URL, "$1")
}

func (h *HTTP) validate(v *validator, p, _ string) {
	u, err := url.Parse(h.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add(p+".url", "%q is not an absolute http or https URL", model.RedactSecrets(model.RedactURL(h.URL, false), h.secrets))
	}
	for _, sec := range h.secrets {
		if len(sec) < 8 {
			v.add(p+".url", "a {secret:…} part is at least 8 characters (a shorter one would be redacted from every message that happens to hold it)")
		}
	}
	switch h.Method {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
	default:
		v.add(p+".method", "%q is not an HTTP method", h.Method)
	}
	if h.Proxy != "" {
		if u, err := url.Parse(h.Proxy); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "socks5") {
			v.add(p+".proxy", "%q is not an http, https or socks5 proxy URL", model.RedactURL(h.Proxy, false))
		}
	}
}

func (h *HTTP) spec() model.HTTPSpec {
	return model.HTTPSpec{URL: h.URL, Method: h.Method, Headers: h.Headers, Body: h.Body,
		FollowRedirects: h.FollowRedirects == nil || *h.FollowRedirects, KeepAlive: h.KeepAlive,
		InsecureTLS: h.InsecureSkipVerify, Proxy: h.Proxy}
}

func (h *HTTP) fill(m *model.Check) { s := h.spec(); m.HTTP = &s; m.Secrets = h.secrets }

// TCP is a tcp check: connect, optionally send and expect.
type TCP struct {
	Address string `yaml:"address"`
	Send    string `yaml:"send"`
	Expect  string `yaml:"expect"`
	TLS     bool   `yaml:"tls"`
}

func (t *TCP) defaults() {}

func (t *TCP) validate(v *validator, p, _ string) { validAddress(v, p+".address", t.Address) }

func (t *TCP) fill(m *model.Check) {
	m.TCP = &model.TCPSpec{Address: t.Address, Send: t.Send, Expect: t.Expect, TLS: t.TLS}
}

func validAddress(v *validator, p, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" {
		v.add(p, "%q is not host:port", addr)
	}
}

// DNS is a dns check: one query, expected answers.
type DNS struct {
	Name     string   `yaml:"name"`
	Type     string   `yaml:"type"`
	Resolver string   `yaml:"resolver"`
	Protocol string   `yaml:"protocol"`
	Expect   []string `yaml:"expect"`
}

func (d *DNS) defaults() {
	if d.Type == "" {
		d.Type = "A"
	}
	d.Type = strings.ToUpper(d.Type)
	if d.Protocol == "" {
		d.Protocol = "udp"
	}
}

func (d *DNS) validate(v *validator, p, _ string) {
	if _, ok := dns.IsDomainName(d.Name); !ok || d.Name == "" {
		v.add(p+".name", "%q is not a domain name", d.Name)
	}
	if _, ok := dns.StringToType[d.Type]; !ok {
		v.add(p+".type", "%q is not a DNS record type (A, AAAA, CNAME, MX, TXT, NS, SOA, SRV, CAA, ...)", d.Type)
	}
	if d.Resolver != "" {
		validAddress(v, p+".resolver", d.Resolver)
	}
	if d.Protocol != "udp" && d.Protocol != "tcp" {
		v.add(p+".protocol", "%q is not udp or tcp", d.Protocol)
	}
}

func (d *DNS) fill(m *model.Check) {
	m.DNS = &model.DNSSpec{Name: d.Name, Type: d.Type, Resolver: d.Resolver, Protocol: d.Protocol, Expect: d.Expect}
}

// TLS is a tls check: the certificate's chain, host name and expiry.
type TLS struct {
	Address    string `yaml:"address"`
	ServerName string `yaml:"server_name"`
	CAFile     string `yaml:"ca_file"`

	caPEM string
}

func (t *TLS) defaults() {}

func (t *TLS) validate(v *validator, p, dir string) {
	validAddress(v, p+".address", t.Address)
	if t.CAFile == "" {
		return
	}
	f := t.CAFile
	if !filepath.IsAbs(f) {
		f = filepath.Join(dir, f)
	}
	b, err := os.ReadFile(f)
	switch {
	case err != nil:
		v.add(p+".ca_file", "cannot read: %v", err)
	case !strings.Contains(string(b), "BEGIN CERTIFICATE"):
		v.add(p+".ca_file", "%s holds no PEM certificate", t.CAFile)
	default:
		t.caPEM = string(b)
	}
}

func (t *TLS) fill(m *model.Check) {
	m.TLS = &model.TLSSpec{Address: t.Address, ServerName: t.ServerName, CAPEM: t.caPEM}
}

// CDN is a cdn check: the request of an http check, plus what the asset
// must be.
type CDN struct {
	HTTP           `yaml:",inline"`
	SHA256         string `yaml:"sha256"`
	Size           int64  `yaml:"size"`
	VersionHeader  string `yaml:"version_header"`
	VersionJSON    string `yaml:"version_json"`
	ExpectVersion  string `yaml:"expect_version"`
	RequireCaching *bool  `yaml:"require_caching"`
}

var sha256Hex = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

func (c *CDN) validate(v *validator, p, dir string) {
	c.HTTP.validate(v, p, dir)
	if c.SHA256 != "" && !sha256Hex.MatchString(c.SHA256) {
		v.add(p+".sha256", "must be 64 hexadecimal digits")
	}
	if c.Size < 0 {
		v.add(p+".size", "must not be negative")
	}
	if c.VersionHeader != "" && c.VersionJSON != "" {
		v.add(p+".version_json", "set version_header or version_json, not both")
	}
	if c.ExpectVersion != "" && c.VersionHeader == "" && c.VersionJSON == "" {
		v.add(p+".expect_version", "needs version_header or version_json to read the served version from")
	}
}

func (c *CDN) fill(m *model.Check) {
	m.CDN = &model.CDNSpec{HTTPSpec: c.HTTP.spec(), SHA256: strings.ToLower(c.SHA256), Size: c.Size, VersionHeader: c.VersionHeader,
		VersionJSON: c.VersionJSON, ExpectVersion: c.ExpectVersion, RequireCaching: c.RequireCaching == nil || *c.RequireCaching}
}

// Flow runs contentsvc's SDK path: segments, manifest, content.
type Flow struct {
	URL            string            `yaml:"url"`
	CDNURL         string            `yaml:"cdn_url"`
	UserID         string            `yaml:"user_id"`
	Attributes     map[string]string `yaml:"attributes"`
	SegmentTimeout Duration          `yaml:"segment_timeout"`
}

func (f *Flow) defaults() {
	if f.UserID == "" {
		f.UserID = "nines-probe"
	}
}

func (f *Flow) validate(v *validator, p, _ string) {
	for field, raw := range map[string]string{"url": f.URL, "cdn_url": f.CDNURL} {
		if raw == "" && field == "cdn_url" {
			continue
		}
		if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add(p+"."+field, "%q is not an absolute http or https URL", model.RedactURL(raw, false))
		}
	}
	if f.SegmentTimeout < 0 {
		v.add(p+".segment_timeout", "must not be negative")
	}
}

func (f *Flow) fill(m *model.Check) {
	m.Flow = &model.FlowSpec{URL: f.URL, CDNURL: f.CDNURL, UserID: f.UserID, Attributes: f.Attributes, SegmentTimeout: f.SegmentTimeout.D()}
}

// Browser drives Chromium through steps on probes started with a browser:
// go to a URL, wait for a selector, click, type, expect text, read a value
// that assertions ask about (browser.value.NAME).
type Browser struct {
	Steps []BrowserStep `yaml:"steps"`
}

// BrowserStep is one step: exactly one of its actions, with what it needs.
type BrowserStep struct {
	Goto       string `yaml:"goto"`
	WaitFor    string `yaml:"wait_for"`
	Click      string `yaml:"click"`
	Type       string `yaml:"type"` // the selector typed into; Text is what
	ExpectText string `yaml:"expect_text"`
	Read       string `yaml:"read"` // the selector read; Name and Attribute say how
	Text       string `yaml:"text"`
	Name       string `yaml:"name"`
	Attribute  string `yaml:"attribute"`
}

func (b *Browser) defaults() {}

var browserValueName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

func (b *Browser) validate(v *validator, p, _ string) {
	switch {
	case len(b.Steps) == 0:
		v.add(p+".steps", "a browser check needs steps, the first a goto")
		return
	case len(b.Steps) > model.MaxBrowserSteps:
		v.add(p+".steps", "%d steps, more than %d", len(b.Steps), model.MaxBrowserSteps)
	case b.Steps[0].Goto == "":
		v.add(p+".steps[0]", "the first step is a goto")
	}
	names := map[string]bool{}
	for i, s := range b.Steps {
		sp := fmt.Sprintf("%s.steps[%d]", p, i)
		var set []string
		for _, a := range []struct{ name, val string }{{"goto", s.Goto}, {"wait_for", s.WaitFor}, {"click", s.Click}, {"type", s.Type},
			{"expect_text", s.ExpectText}, {"read", s.Read}} {
			if a.val != "" {
				set = append(set, a.name)
			}
		}
		if len(set) != 1 {
			v.add(sp, "one action per step (%s), not %d", strings.Join(model.BrowserActions, ", "), len(set))
			continue
		}
		switch set[0] {
		case "goto":
			if u, err := url.Parse(s.Goto); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				v.add(sp+".goto", "%q is not an absolute http or https URL", model.RedactURL(s.Goto, false))
			}
		case "type", "expect_text":
			if s.Text == "" {
				v.add(sp+".text", "%s needs the text", set[0])
			}
		case "read":
			if !browserValueName.MatchString(s.Name) {
				v.add(sp+".name", "%q: a read names its value (lower-case letters, digits, '_'), for assertions on browser.value.NAME", s.Name)
			} else if names[s.Name] {
				v.add(sp+".name", "%q is read twice", s.Name)
			}
			names[s.Name] = true
		}
		if set[0] != "type" && set[0] != "expect_text" && s.Text != "" {
			v.add(sp+".text", "only type and expect_text take a text")
		}
		if set[0] != "read" && (s.Name != "" || s.Attribute != "") {
			v.add(sp, "only read takes a name and an attribute")
		}
	}
}

func (b *Browser) fill(m *model.Check) {
	spec := &model.BrowserSpec{}
	for _, s := range b.Steps {
		st := model.BrowserStep{Text: s.Text, Name: s.Name, Attribute: s.Attribute}
		switch {
		case s.Goto != "":
			st.Action, st.URL = "goto", s.Goto
		case s.WaitFor != "":
			st.Action, st.Selector = "wait_for", s.WaitFor
		case s.Click != "":
			st.Action, st.Selector = "click", s.Click
		case s.Type != "":
			st.Action, st.Selector = "type", s.Type
		case s.ExpectText != "":
			st.Action, st.Selector = "expect_text", s.ExpectText
		case s.Read != "":
			st.Action, st.Selector = "read", s.Read
		}
		spec.Steps = append(spec.Steps, st)
	}
	m.Browser = spec
}
