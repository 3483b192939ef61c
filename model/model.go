// Package model holds the vocabulary shared by the probe, the controller and
// the dashboard: regions, checks, results and verdicts. It performs no I/O.
package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"time"
)

// DefaultRegions are the seven region ids used by the embedded configuration.
var DefaultRegions = []string{"ca-central", "us-ohio", "us-oregon", "ap-sydney", "ap-tokyo", "eu-frankfurt", "eu-london"}

// AlertPath is the SRE view's page of an alert: the dashboard serves it,
// and every notification links to it.
func AlertPath(key string) string { return (&url.URL{Path: "/sre/alerts/" + key}).EscapedPath() }

// RegionHeader is the request header every probe sends with its region id,
// so a target (and contentsvc's fault injector) can tell regions apart.
const RegionHeader = "X-Nines-Region"

// Outcome is what one probe saw in one run of a check.
type Outcome string

// Outcomes of a single result. Degraded is a run that served users, but
// worse than it should (a flow check served from the SDK's cache).
const (
	OutcomeUp       Outcome = "up"
	OutcomeDown     Outcome = "down"
	OutcomeDegraded Outcome = "degraded"
)

// Valid reports whether o is a known outcome.
func (o Outcome) Valid() bool { return o == OutcomeUp || o == OutcomeDown || o == OutcomeDegraded }

// ErrorClass says why a result is down.
type ErrorClass string

// Error classes of failed results.
const (
	ErrDNS       ErrorClass = "dns"
	ErrConnect   ErrorClass = "connect"
	ErrTLS       ErrorClass = "tls"
	ErrTimeout   ErrorClass = "timeout"
	ErrStatus    ErrorClass = "status"
	ErrAssertion ErrorClass = "assertion"
	ErrInternal  ErrorClass = "internal"
)

// ErrorClasses lists every error class in a stable order; the index is the
// compact code used in storage (0 means none).
var ErrorClasses = []ErrorClass{"", ErrDNS, ErrConnect, ErrTLS, ErrTimeout, ErrStatus, ErrAssertion, ErrInternal}

// Code returns the compact storage code of c, or -1 when c is unknown.
func (c ErrorClass) Code() int {
	for i, e := range ErrorClasses {
		if e == c {
			return i
		}
	}
	return -1
}

// Status is a verdict: the state of a check, or of one region's view of it.
type Status string

// Verdict states.
const (
	StatusUp          Status = "up"
	StatusDown        Status = "down"
	StatusDegraded    Status = "degraded"
	StatusUnknown     Status = "unknown"
	StatusMaintenance Status = "maintenance"
)

// Kind names a check kind.
type Kind string

// Check kinds.
const (
	KindHTTP Kind = "http"
	KindTCP  Kind = "tcp"
	KindDNS  Kind = "dns"
	KindTLS  Kind = "tls"
	KindCDN  Kind = "cdn"
	KindFlow Kind = "flow"
	// KindBrowser drives Chromium through steps; only probes started
	// with a browser run it.
	KindBrowser Kind = "browser"
	// KindHeartbeat is a push check: the job calls the controller, no
	// probe runs it.
	KindHeartbeat Kind = "heartbeat"
)

// PushRegion is where the results of heartbeat checks come from: the
// controller receives the pings itself, so it is always heard from.
const PushRegion = "push"

// Check is one monitored target as a probe receives it in its assignment.
type Check struct {
	ID       string        `json:"id"`
	Kind     Kind          `json:"kind"`
	Interval time.Duration `json:"interval"`
	// Cron, when set, replaces Interval with a cron spec (robfig/cron syntax).
	Cron    string        `json:"cron,omitempty"`
	Timeout time.Duration `json:"timeout"`
	// Offset is where in each interval this check starts in the probe's
	// region: a deterministic spread per check plus a per-region stagger.
	Offset time.Duration `json:"offset"`
	HTTP   *HTTPSpec     `json:"http,omitempty"`
	// Secrets are parts of the check's URL that are credentials: a
	// message the probe keeps has them redacted.
	Secrets []string     `json:"secrets,omitempty"`
	TCP     *TCPSpec     `json:"tcp,omitempty"`
	DNS     *DNSSpec     `json:"dns,omitempty"`
	TLS     *TLSSpec     `json:"tls,omitempty"`
	CDN     *CDNSpec     `json:"cdn,omitempty"`
	Flow    *FlowSpec    `json:"flow,omitempty"`
	Browser *BrowserSpec `json:"browser,omitempty"`
	Asserts []string     `json:"assert,omitempty"`
	// Degrade are assertions whose failure makes a run degraded, not down.
	Degrade []string `json:"degrade,omitempty"`
}

// BrowserSpec is what a browser check does in a page, in order.
type BrowserSpec struct {
	Steps []BrowserStep `json:"steps"`
}

// BrowserStep is one thing a browser check does: goto (URL), wait_for
// (Selector visible), click (Selector), type (Text into Selector),
// expect_text (Selector's text contains Text), read (Name := Selector's
// Attribute, or its text).
type BrowserStep struct {
	Action    string `json:"action"`
	URL       string `json:"url,omitempty"`
	Selector  string `json:"selector,omitempty"`
	Text      string `json:"text,omitempty"`
	Name      string `json:"name,omitempty"`
	Attribute string `json:"attribute,omitempty"`
}

// BrowserActions are the steps a browser check knows.
var BrowserActions = []string{"goto", "wait_for", "click", "type", "expect_text", "read"}

// TCPSpec is a TCP connect, optionally sending a line and expecting a reply.
type TCPSpec struct {
	Address string `json:"address"`
	Send    string `json:"send,omitempty"`
	Expect  string `json:"expect,omitempty"`
	TLS     bool   `json:"tls,omitempty"`
}

// DNSSpec is one DNS query.
type DNSSpec struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"`
	Resolver string   `json:"resolver,omitempty"` // host:port; empty: the system's
	Protocol string   `json:"protocol,omitempty"` // udp (default) or tcp
	Expect   []string `json:"expect,omitempty"`   // answers that must all be present
}

// TLSSpec is a TLS handshake whose certificate is checked: chain, host name
// and expiry.
type TLSSpec struct {
	Address    string `json:"address"`
	ServerName string `json:"server_name,omitempty"`
	// CAPEM, when set, replaces the system roots for chain validation.
	CAPEM string `json:"ca_pem,omitempty"`
}

// FlowSpec runs contentsvc's SDK path as a user would: segments, manifest,
// content, with the SDK's fallbacks.
type FlowSpec struct {
	URL            string            `json:"url"`
	CDNURL         string            `json:"cdn_url,omitempty"`
	UserID         string            `json:"user_id"`
	Attributes     map[string]string `json:"attributes,omitempty"`
	SegmentTimeout time.Duration     `json:"segment_timeout,omitempty"`
}

// CDNSpec verifies a published asset the way a CDN serves it.
type CDNSpec struct {
	HTTPSpec
	SHA256 string `json:"sha256,omitempty"`
	Size   int64  `json:"size,omitempty"`
	// The served content version is read from a header or a JSON path of the
	// body, and compared with ExpectVersion when that is set.
	VersionHeader string `json:"version_header,omitempty"`
	VersionJSON   string `json:"version_json,omitempty"`
	ExpectVersion string `json:"expect_version,omitempty"`
	// RequireCaching demands Cache-Control and ETag on the answer.
	RequireCaching bool `json:"require_caching"`
}

// HTTPSpec is the request an http check makes.
type HTTPSpec struct {
	URL             string            `json:"url"`
	Method          string            `json:"method,omitempty"`
	Headers         map[string]string `json:"headers,omitempty"`
	Body            string            `json:"body,omitempty"`
	FollowRedirects bool              `json:"follow_redirects"`
	KeepAlive       bool              `json:"keep_alive,omitempty"`
	InsecureTLS     bool              `json:"insecure_skip_verify,omitempty"`
	Proxy           string            `json:"proxy,omitempty"`
}

// Assignment is the set of checks a probe runs, versioned by an ETag.
type Assignment struct {
	Version string  `json:"version"`
	Region  string  `json:"region"`
	Checks  []Check `json:"checks"`
	// NATSScope is the deployment's NATS scope (nats.deployment) when it
	// has one; without it a probe publishes in its token's own scope.
	NATSScope string `json:"nats_scope,omitempty"`
}

// Phases are the timings of one request, in microseconds.
type Phases struct {
	DNS      int64 `json:"dns_us,omitempty"`
	Connect  int64 `json:"connect_us,omitempty"`
	TLS      int64 `json:"tls_us,omitempty"`
	TTFB     int64 `json:"ttfb_us,omitempty"`
	Transfer int64 `json:"transfer_us,omitempty"`
}

// MaxMessageLen bounds Result.Message.
const MaxMessageLen = 512

// MaxDurationUS bounds a run's duration and each of its phases: an hour,
// far past any check's timeout.
const MaxDurationUS = int64(time.Hour / time.Microsecond)

// MaxStartLag bounds how far a run's start may be from its scheduled time.
const MaxStartLag = time.Hour

// Result is one run of one check in one region. Its key, check + region +
// scheduled time, makes delivery idempotent.
type Result struct {
	Check         string     `json:"check"`
	Region        string     `json:"region"`
	Scheduled     time.Time  `json:"scheduled"`
	Probe         string     `json:"probe"`
	ConfigVersion string     `json:"config_version,omitempty"`
	Started       time.Time  `json:"started"`
	DurationUS    int64      `json:"duration_us"`
	Phases        Phases     `json:"phases"`
	Outcome       Outcome    `json:"outcome"`
	ErrorClass    ErrorClass `json:"error_class,omitempty"`
	HTTPStatus    int        `json:"http_status,omitempty"`
	Bytes         int64      `json:"bytes,omitempty"`
	Message       string     `json:"message,omitempty"`
	// CertExpiry is the leaf certificate's NotAfter, where one was seen.
	CertExpiry *time.Time `json:"cert_expiry,omitempty"`
	// Edge is what a region saw of a CDN asset.
	Edge *Edge `json:"edge,omitempty"`
	// DNS and Flow are what those kinds learned besides the outcome.
	DNS     *DNSFacts     `json:"dns,omitempty"`
	Flow    *FlowFacts    `json:"flow,omitempty"`
	Browser *BrowserFacts `json:"browser,omitempty"`
	// Screenshot is a JPEG of the page a browser check failed on (the
	// first failure after a pass, then one every ten minutes), at most
	// MaxScreenshot bytes. The controller keeps it apart from the result.
	Screenshot []byte `json:"screenshot,omitempty"`
	// CertDaysLeft is the whole days from the run until the certificate
	// expires (from CertExpiry), set where results are served.
	CertDaysLeft *int `json:"cert_days_left,omitempty"`
	// ProbeIsolated marks a failure the probe saw while it could reach
	// neither a controller nor any other target: its own network was
	// down. Such a result is kept and shown as a probe problem; it never
	// counts against the target.
	ProbeIsolated bool `json:"probe_isolated,omitempty"`
	// HostAnswered marks a failure to which the target's host answered
	// (refused or reset the connection, sent a TLS alert or a certificate
	// it would not accept): the probe's network reached it, so the failure
	// is never the probe's own.
	HostAnswered bool `json:"host_answered,omitempty"`
	// OnDemand marks a run a confirmation round asked for, outside the
	// check's schedule; it counts like any other result.
	OnDemand bool `json:"on_demand,omitempty"`
	// Recovery marks an on-demand run a recovery round asked for: a
	// region saw a down check pass, and the others check it again.
	Recovery bool `json:"recovery,omitempty"`
}

// ConfirmRequest asks a probe to run a check at once, outside its
// schedule, to confirm or clear another region's failure.
type ConfirmRequest struct {
	Round int64     `json:"round"`
	Check string    `json:"check"`
	Asked time.Time `json:"asked"`
	// Recovery asks to confirm that a down check is back.
	Recovery bool `json:"recovery,omitempty"`
}

// ConfirmRequests is the answer to a probe's long-poll for confirmation
// requests (GET /api/v1/probes/confirm); empty when none came in time.
type ConfirmRequests struct {
	Requests []ConfirmRequest `json:"requests"`
}

// Edge describes the CDN edge that answered a region.
type Edge struct {
	IP          string            `json:"ip,omitempty"`
	Cache       map[string]string `json:"cache,omitempty"` // Age, X-Cache and the like
	ContentHash string            `json:"content_hash,omitempty"`
	Version     string            `json:"version,omitempty"`
}

// DNSFacts is what a dns check was answered.
type DNSFacts struct {
	RCode   string   `json:"rcode"`
	Answers []string `json:"answers,omitempty"`
}

// FlowFacts is how a flow check's user was served: the SDK's fallback
// level (fresh, cached, default, empty) and each step's latency.
type FlowFacts struct {
	Level   string             `json:"level"`
	StepsMS map[string]float64 `json:"steps_ms,omitempty"`
}

// BrowserFacts is what a browser check's page did: the navigation's
// timings and Core Web Vitals (INP's stand-in on a synthetic run: the
// slowest interaction its steps made), in milliseconds from the start of
// the last navigation; the page's uncaught and console errors, its failed
// requests, the values its steps read, and each step's time.
type BrowserFacts struct {
	TTFBMS             float64                `json:"ttfb_ms"`
	DOMContentLoadedMS float64                `json:"dom_content_loaded_ms"`
	LoadMS             float64                `json:"load_ms"`
	LCPMS              float64                `json:"lcp_ms"`
	CLS                float64                `json:"cls"`
	INPMS              float64                `json:"inp_ms"`
	JSErrors           []string               `json:"js_errors,omitempty"`
	ConsoleErrors      []string               `json:"console_errors,omitempty"`
	FailedRequests     []BrowserFailedRequest `json:"failed_requests,omitempty"`
	Values             map[string]string      `json:"values,omitempty"`
	StepsMS            []float64              `json:"steps_ms,omitempty"`
}

// BrowserFailedRequest is a request of the page that got no answer (Error)
// or an error status.
type BrowserFailedRequest struct {
	URL    string `json:"url"`
	Status int    `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Bounds of the facts a result may carry.
const (
	MaxAnswers   = 64
	MaxAnswerLen = 512
	MaxSteps     = 16
	// A browser check's steps, and each list and text of its facts.
	MaxBrowserSteps = 32
	MaxBrowserList  = 20
	MaxBrowserText  = 512
	MaxScreenshot   = 200 << 10
)

// CertDays is the whole days from the run until the certificate expires.
func (r *Result) CertDays() *int {
	if r.CertExpiry == nil {
		return nil
	}
	d := int(r.CertExpiry.Sub(r.Started).Hours() / 24)
	return &d
}

// Key is the idempotency key of a result.
func (r *Result) Key() string {
	return fmt.Sprintf("%s/%s/%d", r.Check, r.Region, r.Scheduled.UnixMilli())
}

// Latency is the total duration of the run.
func (r *Result) Latency() time.Duration { return time.Duration(r.DurationUS) * time.Microsecond }

// Validate checks the fields a controller relies on and names the first bad one.
func (r *Result) Validate() error {
	switch {
	case r.Check == "":
		return fmt.Errorf("check: must not be empty")
	case r.Region == "":
		return fmt.Errorf("region: must not be empty")
	case r.Scheduled.IsZero():
		return fmt.Errorf("scheduled: must be set")
	case !r.Outcome.Valid():
		return fmt.Errorf("outcome: %q is not up, down or degraded", r.Outcome)
	case r.ErrorClass.Code() < 0:
		return fmt.Errorf("error_class: %q is not a known class", r.ErrorClass)
	case r.Outcome == OutcomeDown && r.ErrorClass == "":
		return fmt.Errorf("error_class: a down result needs one")
	case r.ProbeIsolated && r.Outcome != OutcomeDown:
		return fmt.Errorf("probe_isolated: only a down result can be marked, not %q", r.Outcome)
	case r.DurationUS < 0:
		return fmt.Errorf("duration_us: %d is negative", r.DurationUS)
	case r.DurationUS > MaxDurationUS:
		return fmt.Errorf("duration_us: %d is more than a run can take (%d, an hour)", r.DurationUS, MaxDurationUS)
	case r.HTTPStatus < 0 || r.HTTPStatus > 999:
		return fmt.Errorf("http_status: %d is not a status code", r.HTTPStatus)
	case r.Bytes < 0:
		return fmt.Errorf("bytes: %d is negative", r.Bytes)
	case !r.Started.IsZero() && (r.Started.Sub(r.Scheduled) > MaxStartLag || r.Scheduled.Sub(r.Started) > MaxStartLag):
		return fmt.Errorf("started: %s is more than %s from scheduled %s", r.Started.Format(time.RFC3339), MaxStartLag, r.Scheduled.Format(time.RFC3339))
	case len(r.Message) > MaxMessageLen:
		return fmt.Errorf("message: %d bytes, more than %d", len(r.Message), MaxMessageLen)
	case r.DNS != nil && len(r.DNS.Answers) > MaxAnswers:
		return fmt.Errorf("dns.answers: %d answers, more than %d", len(r.DNS.Answers), MaxAnswers)
	case r.Flow != nil && len(r.Flow.StepsMS) > MaxSteps:
		return fmt.Errorf("flow.steps_ms: %d steps, more than %d", len(r.Flow.StepsMS), MaxSteps)
	}
	if n := len(r.Screenshot); n > 0 {
		switch {
		case n > MaxScreenshot:
			return fmt.Errorf("screenshot: %d bytes, more than %d", n, MaxScreenshot)
		case !bytes.HasPrefix(r.Screenshot, []byte{0xff, 0xd8, 0xff}):
			return fmt.Errorf("screenshot: not a JPEG")
		case r.Outcome != OutcomeDown || r.Browser == nil:
			return fmt.Errorf("screenshot: only a failed browser check's result carries one")
		}
	}
	if r.Browser != nil {
		if err := r.Browser.validate(); err != nil {
			return fmt.Errorf("browser.%w", err)
		}
	}
	for _, ph := range []struct {
		name string
		us   int64
	}{{"dns_us", r.Phases.DNS}, {"connect_us", r.Phases.Connect}, {"tls_us", r.Phases.TLS}, {"ttfb_us", r.Phases.TTFB}, {"transfer_us", r.Phases.Transfer}} {
		if ph.us < 0 || ph.us > MaxDurationUS {
			return fmt.Errorf("phases.%s: %d is not from 0 to %d", ph.name, ph.us, MaxDurationUS)
		}
	}
	if r.DNS != nil {
		for i, a := range r.DNS.Answers {
			if len(a) > MaxAnswerLen {
				return fmt.Errorf("dns.answers[%d]: %d bytes, more than %d", i, len(a), MaxAnswerLen)
			}
		}
	}
	return nil
}

// ResultBatch is the body of POST /api/v1/results.
type ResultBatch struct {
	Probe   string   `json:"probe"`
	Results []Result `json:"results"`
}

// Rejection explains why one result of a batch was not stored.
type Rejection struct {
	Index int    `json:"index"`
	Key   string `json:"key,omitempty"`
	Error string `json:"error"`
}

// IngestAck answers a result batch. Every result of an acknowledged batch was
// stored, was already stored (a duplicate), or was rejected for good.
type IngestAck struct {
	Stored     int         `json:"stored"`
	Duplicates int         `json:"duplicates"`
	Rejected   []Rejection `json:"rejected,omitempty"`
}

// Heartbeat is what a probe sends to register and to stay healthy.
type Heartbeat struct {
	Probe      string    `json:"probe"`
	Region     string    `json:"region"`
	Version    string    `json:"version,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	SentAt     time.Time `json:"sent_at"`
	SpoolDepth int       `json:"spool_depth"`
	Assignment string    `json:"assignment,omitempty"`
	// ClockOffsetMS is the probe's clock minus the controller's, measured
	// on the previous heartbeat's round trip (NTP-style, from the
	// controller's ServerTime); absent until one was measured. Unlike
	// SentAt it does not take a request delayed in transit (a heartbeat
	// sent during a partition) for a slow clock.
	ClockOffsetMS *int64 `json:"clock_offset_ms,omitempty"`
	// Attested are the times, while no controller answered this probe,
	// at which its own network was seen working (a target answered it):
	// its region's health while the controllers were away, sent once one
	// answers again, before the results it kept meanwhile.
	Attested []Span `json:"attested,omitempty"`
	// Capabilities are what this probe can run besides the network
	// kinds: "browser" when it was started with a browser.
	Capabilities []string `json:"capabilities,omitempty"`
}

// CapabilityBrowser is a probe's capability to run browser checks.
const CapabilityBrowser = "browser"

// Capabilities are every capability a probe may have.
var Capabilities = []string{CapabilityBrowser}

// Needs is the capability a check kind needs of the probe that runs it
// ("" for none).
func (k Kind) Needs() string {
	if k == KindBrowser {
		return CapabilityBrowser
	}
	return ""
}

// Span is a stretch of time, its ends included.
type Span struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// MaxAttested bounds Heartbeat.Attested.
const MaxAttested = 1000

// HeartbeatAck tells a probe how often to heartbeat and which assignment is current.
type HeartbeatAck struct {
	HeartbeatInterval time.Duration `json:"heartbeat_interval"`
	Assignment        string        `json:"assignment"`
	// ServerTime is the controller's clock when it answered.
	ServerTime time.Time `json:"server_time"`
}

// NATSKeyID names the key a probe signs its NATS batches with: the SHA-256
// of its token, named by a digest of it, so that the name reveals nothing.
func NATSKeyID(tokenSHA256 [32]byte) string {
	sum := sha256.Sum256(append([]byte("nines nats key\x00"), tokenSHA256[:]...))
	return hex.EncodeToString(sum[:12])
}

// validate bounds what a browser check's facts may hold.
func (b *BrowserFacts) validate() error {
	for _, n := range []struct {
		name string
		v    float64
		max  float64
	}{{"ttfb_ms", b.TTFBMS, 3.6e6}, {"dom_content_loaded_ms", b.DOMContentLoadedMS, 3.6e6}, {"load_ms", b.LoadMS, 3.6e6},
		{"lcp_ms", b.LCPMS, 3.6e6}, {"inp_ms", b.INPMS, 3.6e6}, {"cls", b.CLS, 1e6}} {
		if n.v < 0 || n.v > n.max || n.v != n.v {
			return fmt.Errorf("%s: %v is not from 0 to %v", n.name, n.v, n.max)
		}
	}
	for _, l := range []struct {
		name string
		list []string
	}{{"js_errors", b.JSErrors}, {"console_errors", b.ConsoleErrors}} {
		if len(l.list) > MaxBrowserList {
			return fmt.Errorf("%s: %d, more than %d", l.name, len(l.list), MaxBrowserList)
		}
		for i, s := range l.list {
			if len(s) > MaxBrowserText {
				return fmt.Errorf("%s[%d]: %d bytes, more than %d", l.name, i, len(s), MaxBrowserText)
			}
		}
	}
	switch {
	case len(b.FailedRequests) > MaxBrowserList:
		return fmt.Errorf("failed_requests: %d, more than %d", len(b.FailedRequests), MaxBrowserList)
	case len(b.Values) > MaxBrowserList:
		return fmt.Errorf("values: %d, more than %d", len(b.Values), MaxBrowserList)
	case len(b.StepsMS) > MaxBrowserSteps:
		return fmt.Errorf("steps_ms: %d steps, more than %d", len(b.StepsMS), MaxBrowserSteps)
	}
	for i, f := range b.FailedRequests {
		if len(f.URL)+len(f.Error) > 2*MaxBrowserText {
			return fmt.Errorf("failed_requests[%d]: more than %d bytes", i, 2*MaxBrowserText)
		}
	}
	for k, v := range b.Values {
		if len(k) > 64 || len(v) > MaxBrowserText {
			return fmt.Errorf("values[%q]: a name over 64 bytes or a value over %d", Cut(k, 64), MaxBrowserText)
		}
	}
	return nil
}
