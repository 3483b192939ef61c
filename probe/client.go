package probe

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/nines-sre/nines/model"
)

// client speaks the controller's probe API.
type client struct {
	base  string
	token string
	http  *http.Client
	agent string
}

// StatusError is a non-2xx answer from the controller.
type StatusError struct {
	Code int
	Msg  string
}

func (e *StatusError) Error() string { return fmt.Sprintf("controller answered %d: %s", e.Code, e.Msg) }

func newClient(base, token, agent string) *client {
	return &client{
		base:  strings.TrimRight(base, "/"),
		token: token,
		agent: agent,
		http:  &http.Client{Timeout: 30 * time.Second},
	}
}

func (c *client) do(ctx context.Context, method, path string, body any, hdr http.Header, out any) (*http.Response, error) {
	var rd io.Reader
	gz := false
	if body != nil {
		var buf bytes.Buffer
		if _, isBatch := body.(*model.ResultBatch); isBatch {
			gz = true
			zw := gzip.NewWriter(&buf)
			if err := json.NewEncoder(zw).Encode(body); err != nil {
				return nil, fmt.Errorf("encode %s: %w", path, err)
			}
			if err := zw.Close(); err != nil {
				return nil, err
			}
		} else if err := json.NewEncoder(&buf).Encode(body); err != nil {
			return nil, fmt.Errorf("encode %s: %w", path, err)
		}
		rd = &buf
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("User-Agent", c.agent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		if gz {
			req.Header.Set("Content-Encoding", "gzip")
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
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
// returns nil when nothing changed.
func (c *client) assignment(ctx context.Context, etag string) (*model.Assignment, error) {
	hdr := http.Header{}
	if etag != "" {
		hdr.Set("If-None-Match", etag)
	}
	var a model.Assignment
	resp, err := c.do(ctx, http.MethodGet, "/api/v1/assignment", nil, hdr, &a)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNotModified {
		return nil, nil
	}
	if a.Version == "" {
		a.Version = resp.Header.Get("ETag")
	}
	return &a, nil
}

func (c *client) ship(ctx context.Context, b *model.ResultBatch) (model.IngestAck, error) {
	var ack model.IngestAck
	_, err := c.do(ctx, http.MethodPost, "/api/v1/results", b, nil, &ack)
	return ack, err
}
