package check

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nines-sre/nines/model"
)

// maxBody is how much of a response body assertions may look at.
const maxBody = 1 << 20

// transportKey names a transport: a fresh connection each run unless a
// check asks for keep-alive, so DNS, connect and TLS are measured the way
// a first-time user meets them.
type transportKey struct {
	keepAlive, insecure bool
	proxy               string
}

func keyOf(spec *model.HTTPSpec) transportKey {
	return transportKey{spec.KeepAlive, spec.InsecureTLS, spec.Proxy}
}

func newTransport(k transportKey) (*http.Transport, error) {
	proxy := http.ProxyFromEnvironment
	if k.proxy != "" {
		u, err := url.Parse(k.proxy)
		if err != nil {
			return nil, fmt.Errorf("proxy: %w", err)
		}
		proxy = http.ProxyURL(u)
	}
	t := &http.Transport{
		Proxy:               proxy,
		DialContext:         (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
		DisableKeepAlives:   !k.keepAlive,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: k.insecure}, //nolint:gosec // opt-in per check
		ForceAttemptHTTP2:   true,
	}
	return t, nil
}

// HTTP runs an http check: one request, phase timings, status, headers and
// up to maxBody of the body for assertions.
func HTTP(ctx context.Context, c *model.Check, env Env) Observation {
	if c.HTTP == nil {
		return Observation{Class: model.ErrInternal, Err: errors.New("http check without an http block")}
	}
	obs, _ := fetch(ctx, c.HTTP, env, nil)
	return obs
}

// phaseTrace records a request's phases from httptrace callbacks, which
// net/http may call from its dialing goroutine even after Do returned.
type phaseTrace struct {
	mu                                           sync.Mutex
	t0, dnsStart, connStart, tlsStart, firstByte time.Time
	phases                                       model.Phases
	certExpiry                                   time.Time
	remoteIP                                     string
}

func (p *phaseTrace) begin() {
	p.mu.Lock()
	p.t0 = time.Now()
	p.mu.Unlock()
}

func (p *phaseTrace) set(f func()) {
	p.mu.Lock()
	f()
	p.mu.Unlock()
}

func (p *phaseTrace) clientTrace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		DNSStart: func(httptrace.DNSStartInfo) { p.set(func() { p.dnsStart = time.Now() }) },
		DNSDone: func(httptrace.DNSDoneInfo) {
			p.set(func() { p.phases.DNS = time.Since(p.dnsStart).Microseconds() })
		},
		ConnectStart: func(string, string) { p.set(func() { p.connStart = time.Now() }) },
		ConnectDone: func(_, _ string, err error) {
			if err == nil {
				p.set(func() { p.phases.Connect = time.Since(p.connStart).Microseconds() })
			}
		},
		GotConn: func(ci httptrace.GotConnInfo) {
			if a, ok := ci.Conn.RemoteAddr().(*net.TCPAddr); ok {
				p.set(func() { p.remoteIP = a.IP.String() })
			}
		},
		TLSHandshakeStart: func() { p.set(func() { p.tlsStart = time.Now() }) },
		TLSHandshakeDone: func(cs tls.ConnectionState, err error) {
			p.set(func() {
				p.phases.TLS = time.Since(p.tlsStart).Microseconds()
				if err == nil && len(cs.PeerCertificates) > 0 {
					p.certExpiry = cs.PeerCertificates[0].NotAfter
				}
			})
		},
		GotFirstResponseByte: func() {
			p.set(func() {
				p.firstByte = time.Now()
				p.phases.TTFB = p.firstByte.Sub(p.t0).Microseconds()
			})
		},
	}
}

// into copies what the trace saw into the observation.
func (p *phaseTrace) into(obs *Observation, info *fetched) {
	p.mu.Lock()
	defer p.mu.Unlock()
	obs.Phases, info.remoteIP = p.phases, p.remoteIP
	if !p.certExpiry.IsZero() {
		obs.Subject.CertExpiry = p.certExpiry
	}
}

func (p *phaseTrace) firstByteAt() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.firstByte
}

// fetched is what a request saw beyond the response itself.
type fetched struct {
	remoteIP string
}

// fetch makes one request with phase timings. The whole body is read (and
// written to sink when given); up to maxBody of it is kept for assertions.
func fetch(ctx context.Context, spec *model.HTTPSpec, env Env, sink io.Writer) (Observation, fetched) {
	var obs Observation
	var info fetched
	var body io.Reader
	if spec.Body != "" {
		body = strings.NewReader(spec.Body)
	}
	pt := &phaseTrace{}
	trace := pt.clientTrace()
	method := spec.Method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), method, spec.URL, body)
	if err != nil {
		obs.Class, obs.Err = model.ErrInternal, err
		return obs, info
	}
	for k, v := range spec.Headers {
		req.Header.Set(k, v)
	}
	if env.Region != "" {
		req.Header.Set(model.RegionHeader, env.Region)
	}
	if env.UserAgent != "" && req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", env.UserAgent)
	}
	tr, err := env.transport(keyOf(spec))
	if err != nil {
		obs.Class, obs.Err = model.ErrInternal, err
		return obs, info
	}
	client := &http.Client{Transport: tr}
	if !spec.FollowRedirects {
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	pt.begin()
	resp, err := client.Do(req)
	if err != nil {
		// A dial may still be finishing in its own goroutine: read what the
		// trace saw under its lock.
		pt.into(&obs, &info)
		obs.Class, obs.Err = Classify(err), err
		return obs, info
	}
	defer resp.Body.Close()
	var rd io.Reader = resp.Body
	if sink != nil {
		rd = io.TeeReader(resp.Body, sink)
	}
	b, err := io.ReadAll(io.LimitReader(rd, maxBody))
	pt.into(&obs, &info)
	firstByte := pt.firstByteAt()
	n := int64(len(b))
	if err == nil {
		var rest int64
		rest, err = io.Copy(io.Discard, rd)
		n += rest
	}
	if !firstByte.IsZero() {
		obs.Phases.Transfer = time.Since(firstByte).Microseconds()
	}
	if err != nil {
		obs.Class, obs.Err = Classify(err), err
		return obs, info
	}
	obs.Subject.Status = resp.StatusCode
	obs.Subject.Header = resp.Header
	obs.Subject.Body = b
	obs.Subject.Size = n
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		obs.Subject.CertExpiry = resp.TLS.PeerCertificates[0].NotAfter
	}
	return obs, info
}

// HostAnswered reports whether err came from the target's host itself:
// it refused, reset or closed the connection, or its TLS handshake
// answered with an alert or a certificate not accepted. Its network was
// reached.
func HostAnswered(err error) bool {
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var alert tls.AlertError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.As(err, &certErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr) || errors.As(err, &invalid) ||
		errors.As(err, &alert)
}

// Classify maps a transport error to an error class.
func Classify(err error) model.ErrorClass {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var recordErr tls.RecordHeaderError
	var opErr *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return model.ErrTimeout
	case errors.As(err, &dnsErr):
		return model.ErrDNS
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr),
		errors.As(err, &invalid), errors.As(err, &recordErr):
		return model.ErrTLS
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return model.ErrConnect
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return model.ErrTimeout
	}
	if strings.Contains(err.Error(), "tls:") {
		return model.ErrTLS
	}
	return model.ErrConnect
}
