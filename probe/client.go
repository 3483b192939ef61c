package probe

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/nines-sre/nines/model"
)

// client speaks the controller's probe API. With several controller
// replicas it talks to one at a time and moves to the next when one cannot
// be reached or answers that it is unavailable.
type client struct {
	bases []string
	cur   atomic.Int32
	token string
	http  *http.Client
	agent string

	gzMu sync.Mutex
	gz   *gzip.Writer // reused: a fresh one costs most of a megabyte
}

// StatusError is a non-2xx answer from the controller.
type StatusError struct {
	Code int
	Msg  string
}

func (e *StatusError) Error() string { return fmt.Sprintf("controller answered %d: %s", e.Code, e.Msg) }

func newClient(base, token, agent, caFile, certFile, keyFile string) (*client, error) {
	tcfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		tcfg.RootCAs = x509.NewCertPool()
		if !tcfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca: %s holds no PEM certificate", caFile)
		}
	}
	if (certFile == "") != (keyFile == "") {
		return nil, fmt.Errorf("--tls-cert and --tls-key go together")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		tcfg.Certificates = []tls.Certificate{cert}
	}
	var bases []string
	for _, b := range strings.Split(base, ",") {
		b = strings.TrimRight(strings.TrimSpace(b), "/")
		u, err := url.Parse(b)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("--controller: %q is not an http:// or https:// URL", b)
		}
		bases = append(bases, b)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tcfg
	return &client{
		bases: bases,
		token: token,
		agent: agent,
		http:  &http.Client{Timeout: 30 * time.Second, Transport: tr},
	}, nil
}

// next moves on from controller i to the following one, unless another
// request already did.
func (c *client) next(i int32) {
	if len(c.bases) > 1 {
		c.cur.CompareAndSwap(i, (i+1)%int32(len(c.bases)))
	}
}

// gzipped is a request body already encoded and compressed.
type gzipped []byte

func (c *client) do(ctx context.Context, method, path string, body any, hdr http.Header, out any) (*http.Response, error) {
	var rd io.Reader
	gz := false
	switch b := body.(type) {
	case nil:
	case gzipped:
		rd, gz = bytes.NewReader(b), true
	default:
		var buf bytes.Buffer
		if err := json.NewEncoder(&buf).Encode(body); err != nil {
			return nil, fmt.Errorf("encode %s: %w", path, err)
		}
		rd = &buf
	}
	i := c.cur.Load()
	req, err := http.NewRequestWithContext(ctx, method, c.bases[i]+path, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("User-Agent", c.agent)
	// Every call of the probe API may be repeated (results are keyed,
	// heartbeats and deregistrations are states): saying so lets the
	// transport send it again on a fresh connection when a kept-alive one
	// turns out closed by the controller, instead of failing the call.
	req.Header.Set("Idempotency-Key", rand.Text())
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		if gz {
			req.Header.Set("Content-Encoding", "gzip")
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.next(i)
		return nil, fmt.Errorf("%s %s%s: %w", method, c.bases[i], path, err)
	}
	switch resp.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		c.next(i)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified {
		return resp, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return resp, &StatusError{Code: resp.StatusCode, Msg: msg}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp, fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return resp, nil
}

func (c *client) heartbeat(ctx context.Context, path string, hb *model.Heartbeat) (model.HeartbeatAck, error) {
	var ack model.HeartbeatAck
	_, err := c.do(ctx, http.MethodPost, path, hb, nil, &ack)
	return ack, err
}

// assignment fetches the assignment unless etag is still current; it
// returns nil when nothing changed, and the body as received, for saving.
func (c *client) assignment(ctx context.Context, probe, etag string) (*model.Assignment, json.RawMessage, error) {
	hdr := http.Header{}
	if etag != "" {
		hdr.Set("If-None-Match", etag)
	}
	var raw json.RawMessage
	resp, err := c.do(ctx, http.MethodGet, "/api/v1/assignment?probe="+url.QueryEscape(probe), nil, hdr, &raw)
	if err != nil || resp.StatusCode == http.StatusNotModified {
		return nil, nil, err
	}
	var a model.Assignment
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, nil, fmt.Errorf("decode assignment: %w", err)
	}
	if a.Version == "" {
		a.Version = resp.Header.Get("ETag")
	}
	return &a, raw, nil
}

// ship posts a batch built from results already encoded as JSON, gzipped.
func (c *client) ship(ctx context.Context, probe string, results [][]byte) (model.IngestAck, error) {
	body, err := c.encode(probe, results)
	if err != nil {
		return model.IngestAck{}, err
	}
	var ack model.IngestAck
	_, err = c.do(ctx, http.MethodPost, "/api/v1/results", gzipped(body), nil, &ack)
	return ack, err
}

// encode builds the gzipped JSON of a batch from results already encoded.
func (c *client) encode(probe string, results [][]byte) ([]byte, error) {
	var buf bytes.Buffer
	c.gzMu.Lock()
	defer c.gzMu.Unlock()
	if c.gz == nil {
		c.gz, _ = gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	} else {
		c.gz.Reset(&buf)
	}
	zw := c.gz
	probeJSON, _ := json.Marshal(probe)
	fmt.Fprintf(zw, `{"probe":%s,"results":[`, probeJSON)
	for i, r := range results {
		if i > 0 {
			zw.Write([]byte{','})
		}
		zw.Write(r)
	}
	zw.Write([]byte("]}"))
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress batch: %w", err)
	}
	return buf.Bytes(), nil
}
