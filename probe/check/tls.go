package check

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/nines-sre/nines/model"
)

// TLS runs a tls check: a handshake, then the certificate chain, the host
// name and the expiry are verified. The expiry is recorded even when the
// chain fails, so every result carries the days left.
func TLS(ctx context.Context, c *model.Check, env Env) Observation {
	var obs Observation
	spec := c.TLS
	if spec == nil {
		return Observation{Class: model.ErrInternal, Err: errors.New("tls check without a tls block")}
	}
	name := spec.ServerName
	if name == "" {
		name, _, _ = net.SplitHostPort(spec.Address)
	}
	var roots *x509.CertPool
	if spec.CAPEM != "" {
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM([]byte(spec.CAPEM)) {
			return Observation{Class: model.ErrInternal, Err: errors.New("ca_pem holds no certificate")}
		}
	}
	conn := dial(ctx, spec.Address, &obs)
	if conn == nil {
		return obs
	}
	defer conn.Close()
	start := time.Now()
	// Verification is done below, by hand, so that an invalid chain still
	// yields the certificate and its expiry.
	tc := tls.Client(conn, &tls.Config{ServerName: name, InsecureSkipVerify: true}) //nolint:gosec // verified below
	err := tc.HandshakeContext(ctx)
	obs.Phases.TLS = time.Since(start).Microseconds()
	if err != nil {
		obs.Class, obs.Err = model.ErrTLS, fmt.Errorf("handshake: %w", err)
		if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			obs.Class = model.ErrTimeout
		}
		return obs
	}
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		obs.Class, obs.Err = model.ErrTLS, errors.New("no certificate presented")
		return obs
	}
	leaf := certs[0]
	obs.Subject.CertExpiry = leaf.NotAfter
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inter, CurrentTime: time.Now()}); err != nil {
		obs.Class, obs.Err = model.ErrTLS, fmt.Errorf("certificate of %s: %w", name, err)
	}
	return obs
}
