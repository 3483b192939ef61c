package check

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/nines-sre/nines/model"
)

// maxTCPRead bounds what a tcp check reads while waiting for its expect text.
const maxTCPRead = 64 << 10

// TCP runs a tcp check: connect (optionally over TLS), optionally send a
// line and read until the expected text arrives.
func TCP(ctx context.Context, c *model.Check, env Env) Observation {
	var obs Observation
	spec := c.TCP
	if spec == nil {
		return Observation{Class: model.ErrInternal, Err: errors.New("tcp check without a tcp block")}
	}
	conn := dial(ctx, spec.Address, &obs)
	if conn == nil {
		return obs
	}
	defer conn.Close()
	if spec.TLS {
		host, _, _ := net.SplitHostPort(spec.Address)
		start := time.Now()
		tc := tls.Client(conn, &tls.Config{ServerName: host})
		err := tc.HandshakeContext(ctx)
		obs.Phases.TLS = time.Since(start).Microseconds()
		if err != nil {
			obs.Class, obs.Err = model.ErrTLS, err
			if errors.Is(err, context.DeadlineExceeded) {
				obs.Class = model.ErrTimeout
			}
			return obs
		}
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			obs.Subject.CertExpiry = certs[0].NotAfter
		}
		conn = tc
	}
	start := time.Now()
	if spec.Send != "" {
		if _, err := io.WriteString(conn, spec.Send); err != nil {
			obs.Class, obs.Err = Classify(err), fmt.Errorf("send: %w", err)
			return obs
		}
	}
	if spec.Expect != "" {
		buf := make([]byte, 0, 512)
		chunk := make([]byte, 4096)
		for !bytes.Contains(buf, []byte(spec.Expect)) {
			n, err := conn.Read(chunk)
			if obs.Phases.TTFB == 0 && n > 0 {
				obs.Phases.TTFB = time.Since(start).Microseconds()
			}
			buf = append(buf, chunk[:n]...)
			if err != nil || len(buf) >= maxTCPRead {
				obs.Subject.Body = buf
				switch {
				case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
					obs.Class, obs.Err = model.ErrTimeout, fmt.Errorf("no %s before the timeout; read %s", strconv.Quote(spec.Expect), quoteShort(buf))
				default:
					obs.Class, obs.Err = model.ErrAssertion, fmt.Errorf("expected %s, read %s", strconv.Quote(spec.Expect), quoteShort(buf))
				}
				return obs
			}
		}
		obs.Subject.Body = buf
		obs.Subject.Size = int64(len(buf))
	}
	return obs
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func quoteShort(b []byte) string {
	if len(b) > 64 {
		return strconv.Quote(string(b[:64])) + "…"
	}
	return strconv.Quote(string(b))
}
