package check

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nines-sre/nines/model"
)

func TestTCPConnectSendExpect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				if line == "PING\r\n" {
					fmt.Fprint(c, "+PONG\r\n")
				} else {
					fmt.Fprint(c, "-ERR unknown\r\n")
				}
			}()
		}
	}()
	addr := ln.Addr().String()
	up := run(t, model.Check{ID: "redis", Kind: model.KindTCP, TCP: &model.TCPSpec{Address: addr, Send: "PING\r\n", Expect: "+PONG"}})
	if up.Outcome != model.OutcomeUp || up.Phases.Connect <= 0 {
		t.Fatalf("ping: %+v", up)
	}
	bare := run(t, model.Check{ID: "port", Kind: model.KindTCP, TCP: &model.TCPSpec{Address: addr}})
	if bare.Outcome != model.OutcomeUp {
		t.Fatalf("connect only: %+v", bare)
	}
	wrong := run(t, model.Check{ID: "redis", Kind: model.KindTCP, TCP: &model.TCPSpec{Address: addr, Send: "HELLO\r\n", Expect: "+PONG"}})
	if wrong.Outcome != model.OutcomeDown || wrong.ErrorClass != model.ErrAssertion || !strings.Contains(wrong.Message, `expected "+PONG", read "-ERR unknown\r\n"`) {
		t.Fatalf("wrong answer: %+v", wrong)
	}
	silent := run(t, model.Check{ID: "redis", Kind: model.KindTCP, Timeout: 300 * time.Millisecond, TCP: &model.TCPSpec{Address: addr, Expect: "+PONG"}})
	if silent.ErrorClass != model.ErrTimeout {
		t.Fatalf("no answer: %+v", silent)
	}
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln2.Addr().String()
	ln2.Close()
	if r := run(t, model.Check{ID: "gone", Kind: model.KindTCP, TCP: &model.TCPSpec{Address: closed}}); r.ErrorClass != model.ErrConnect {
		t.Fatalf("closed port: %+v", r)
	}
}

// certs makes a CA and a leaf for localhost and 127.0.0.1 valid until notAfter.
func certs(t *testing.T, notAfter time.Time) (caPEM string, leaf tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "nines test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: notAfter, DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})), tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func tlsServer(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func TestTLSCertificateAboutToExpire(t *testing.T) {
	ca, soon := certs(t, time.Now().Add(3*24*time.Hour+time.Hour))
	addr := tlsServer(t, soon)
	port := addr[strings.LastIndexByte(addr, ':'):]

	ok := run(t, model.Check{ID: "cert", Kind: model.KindTLS, TLS: &model.TLSSpec{Address: "localhost" + port, CAPEM: ca}})
	if ok.Outcome != model.OutcomeUp || ok.CertExpiry == nil || *ok.CertDays() != 3 {
		t.Fatalf("valid chain: %+v (days left %v)", ok, ok.CertDays())
	}
	warn := run(t, model.Check{ID: "cert", Kind: model.KindTLS, TLS: &model.TLSSpec{Address: addr, ServerName: "localhost", CAPEM: ca},
		Asserts: []string{"cert.expires_in > 14d"}})
	if warn.Outcome != model.OutcomeDown || warn.ErrorClass != model.ErrAssertion || !strings.Contains(warn.Message, "cert.expires_in > 14d: saw 7") {
		t.Fatalf("expiring in 3 days: %+v", warn)
	}
	untrusted := run(t, model.Check{ID: "cert", Kind: model.KindTLS, TLS: &model.TLSSpec{Address: addr, ServerName: "localhost"}})
	if untrusted.ErrorClass != model.ErrTLS || !strings.Contains(untrusted.Message, "unknown authority") || untrusted.CertDays() == nil {
		t.Fatalf("unknown CA: %+v; the days left must still be recorded", untrusted)
	}
	wrongName := run(t, model.Check{ID: "cert", Kind: model.KindTLS, TLS: &model.TLSSpec{Address: addr, ServerName: "api.example.com", CAPEM: ca}})
	if wrongName.ErrorClass != model.ErrTLS || !strings.Contains(wrongName.Message, "api.example.com") {
		t.Fatalf("host name mismatch: %+v", wrongName)
	}
	ca2, expired := certs(t, time.Now().Add(-time.Hour))
	old := run(t, model.Check{ID: "cert", Kind: model.KindTLS, TLS: &model.TLSSpec{Address: tlsServer(t, expired), ServerName: "localhost", CAPEM: ca2}})
	if old.ErrorClass != model.ErrTLS || !strings.Contains(old.Message, "expired") || *old.CertDays() != 0 {
		t.Fatalf("expired: %+v", old)
	}
}

func dnsServer(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := dns.NewServeMux()
	mux.HandleFunc("nines.test.", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		switch {
		case q.Name == "api.nines.test." && q.Qtype == dns.TypeA:
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP("192.0.2.10")},
				&dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP("192.0.2.11")})
		case q.Name == "cdn.nines.test." && q.Qtype == dns.TypeCNAME:
			m.Answer = append(m.Answer, &dns.CNAME{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 60}, Target: "edge.example.net."})
		default:
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})
	srv := &dns.Server{PacketConn: pc, Handler: mux}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

func TestDNSAnswersAndExpectations(t *testing.T) {
	resolver := dnsServer(t)
	a := run(t, model.Check{ID: "dns", Kind: model.KindDNS, DNS: &model.DNSSpec{Name: "api.nines.test", Type: "A", Resolver: resolver, Expect: []string{"192.0.2.11"}},
		Asserts: []string{"answers.len == 2", `answers contains "192.0.2.10"`, `rcode == "NOERROR"`}})
	if a.Outcome != model.OutcomeUp || a.DNS == nil || a.DNS.RCode != "NOERROR" || len(a.DNS.Answers) != 2 || a.DNS.Answers[0] != "192.0.2.10" {
		t.Fatalf("A: %+v (dns %+v)", a, a.DNS)
	}
	cname := run(t, model.Check{ID: "dns", Kind: model.KindDNS, DNS: &model.DNSSpec{Name: "cdn.nines.test", Type: "CNAME", Resolver: resolver, Expect: []string{"edge.example.net"}}})
	if cname.Outcome != model.OutcomeUp {
		t.Fatalf("CNAME: %+v", cname)
	}
	moved := run(t, model.Check{ID: "dns", Kind: model.KindDNS, DNS: &model.DNSSpec{Name: "api.nines.test", Type: "A", Resolver: resolver, Expect: []string{"192.0.2.99"}}})
	if moved.ErrorClass != model.ErrAssertion || !strings.Contains(moved.Message, `expected answer "192.0.2.99", got ["192.0.2.10" "192.0.2.11"]`) {
		t.Fatalf("missing answer: %+v", moved)
	}
	nx := run(t, model.Check{ID: "dns", Kind: model.KindDNS, DNS: &model.DNSSpec{Name: "gone.nines.test", Type: "A", Resolver: resolver}})
	if nx.ErrorClass != model.ErrDNS || !strings.Contains(nx.Message, "NXDOMAIN") || nx.DNS == nil || nx.DNS.RCode != "NXDOMAIN" {
		t.Fatalf("NXDOMAIN: %+v", nx)
	}
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0") // a resolver that never answers
	defer pc.Close()
	quiet := run(t, model.Check{ID: "dns", Kind: model.KindDNS, Timeout: 300 * time.Millisecond, DNS: &model.DNSSpec{Name: "api.nines.test", Type: "A", Resolver: pc.LocalAddr().String()}})
	if quiet.ErrorClass != model.ErrTimeout {
		t.Fatalf("silent resolver: %+v", quiet)
	}
}

func TestCDNAssetVerification(t *testing.T) {
	body := `{"id":"welcome","version":3,"title":"Hi"}`
	sum := sha256.Sum256([]byte(body))
	var cacheControl = "public, max-age=31536000, immutable"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", cacheControl)
		if r.URL.Path != "/no-etag" {
			w.Header().Set("ETag", `"abc"`)
		}
		w.Header().Set("Age", "42")
		w.Header().Set("X-Cache", "HIT")
		w.Header().Set("X-Content-Version", "3")
		fmt.Fprint(w, body)
	}))
	defer srv.Close()
	spec := func(mod func(*model.CDNSpec)) *model.CDNSpec {
		s := &model.CDNSpec{HTTPSpec: model.HTTPSpec{URL: srv.URL + "/cdn/welcome.json", Method: "GET"}, SHA256: hex.EncodeToString(sum[:]),
			Size: int64(len(body)), VersionJSON: "version", ExpectVersion: "3", RequireCaching: true}
		if mod != nil {
			mod(s)
		}
		return s
	}
	ok := run(t, model.Check{ID: "asset", Kind: model.KindCDN, CDN: spec(nil), Asserts: []string{`version == "3"`}})
	if ok.Outcome != model.OutcomeUp || ok.Edge == nil || ok.Edge.IP != "127.0.0.1" || ok.Edge.Cache["Age"] != "42" ||
		ok.Edge.Cache["X-Cache"] != "HIT" || ok.Edge.Version != "3" || ok.Edge.ContentHash != hex.EncodeToString(sum[:16]) {
		t.Fatalf("good asset: %+v edge %+v", ok, ok.Edge)
	}
	for _, tc := range []struct {
		name string
		mod  func(*model.CDNSpec)
		want string
	}{
		{"checksum", func(s *model.CDNSpec) { s.SHA256 = strings.Repeat("0", 64) }, "sha256 " + hex.EncodeToString(sum[:])},
		{"size", func(s *model.CDNSpec) { s.Size = 10 }, "expected 10"},
		{"stale version", func(s *model.CDNSpec) { s.ExpectVersion = "4" }, `served version "3", expected "4"`},
		{"version header", func(s *model.CDNSpec) { s.VersionJSON, s.VersionHeader, s.ExpectVersion = "", "X-Content-Version", "4" }, `served version "3"`},
		{"no etag", func(s *model.CDNSpec) { s.URL = srv.URL + "/no-etag" }, "no ETag header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, model.Check{ID: "asset", Kind: model.KindCDN, CDN: spec(tc.mod)})
			if r.Outcome != model.OutcomeDown || r.ErrorClass != model.ErrAssertion || !strings.Contains(r.Message, tc.want) || r.Edge == nil {
				t.Fatalf("got %+v, want an assertion failure with %q and the edge recorded", r, tc.want)
			}
		})
	}
	cacheControl = ""
	if r := run(t, model.Check{ID: "asset", Kind: model.KindCDN, CDN: spec(nil)}); !strings.Contains(r.Message, "no Cache-Control") {
		t.Fatalf("no Cache-Control: %+v", r)
	}
}
