// Package loadgen drives a real controller for the benchmarks: it builds
// the binary, writes a configuration of many checks, runs the controller as
// a child process on loopback, and runs synthetic regional probes that do
// what real ones do through the probe API (register, heartbeat, fetch
// their assignment, post gzipped batches) without running any check.
package loadgen

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nines-sre/nines/model"
)

// Regions are the seven regions of the product.
var Regions = []string{"ca-central", "us-ohio", "us-oregon", "ap-sydney", "ap-tokyo", "eu-frankfurt", "eu-london"}

// Build builds the command pkg (e.g. ./cmd/nines) into dir and returns the
// binary's path.
func Build(dir, pkg string) (string, error) {
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	return out, nil
}

// Workdir makes a temporary directory named after prefix and, unless
// binary names one, builds the command pkg into it; cleanup removes the
// directory.
func Workdir(prefix, pkg, binary string) (dir, bin string, cleanup func(), err error) {
	if dir, err = os.MkdirTemp("", prefix); err != nil {
		return "", "", nil, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	if binary == "" {
		if binary, err = Build(dir, pkg); err != nil {
			cleanup()
			return "", "", nil, err
		}
	}
	return dir, binary, cleanup, nil
}

// Token is the probe token of region in the configurations made here.
func Token(region string) string { return "loadgen-token-" + region }

// Config is a configuration of checks spread over components, every check
// once a minute in each of regions, with quorum.
func Config(checks, components int, regions []string, quorum int) string {
	var b strings.Builder
	b.WriteString("regions:\n")
	for _, r := range Regions {
		fmt.Fprintf(&b, "  - id: %s\n", r)
	}
	fmt.Fprintf(&b, "probes:\n  heartbeat_interval: 5s\n  rate_limit: 1000\n  tokens:\n")
	for _, r := range Regions {
		fmt.Fprintf(&b, "    - {region: %s, token: %s}\n", r, Token(r))
	}
	fmt.Fprintf(&b, "quorum: %d\ndefaults: {interval: 1m, timeout: 5s}\ncomponents:\n", quorum)
	in := strings.Join(regions, ", ")
	for c := range components {
		fmt.Fprintf(&b, "  - id: comp-%d\n    checks:\n", c)
		for i := c; i < checks; i += components {
			fmt.Fprintf(&b, "      - {id: check-%d, kind: http, regions: [%s], http: {url: \"http://127.0.0.1:9/%d\"}}\n", i, in, i)
		}
	}
	return b.String()
}

// FreeAddr is a loopback address nothing listens on now.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Controller is a controller running as a child process.
type Controller struct {
	Cmd  *exec.Cmd
	Base string // http://127.0.0.1:port
	Log  string
}

// StartController writes cfg to dir and runs binary as a controller on a
// free loopback port, with args added; it returns once /healthz answers.
func StartController(binary, dir, cfg string, args ...string) (*Controller, error) {
	cfgPath := filepath.Join(dir, "nines.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "controller.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(binary, append([]string{"controller", "--config", cfgPath, "--data", filepath.Join(dir, "data"), "--listen", addr}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &Controller{Cmd: cmd, Base: "http://" + addr, Log: logPath}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(c.Base + "/healthz"); err == nil {
			resp.Body.Close()
			return c, nil
		}
	}
	c.Stop()
	return nil, fmt.Errorf("the controller did not start in 60 s (see %s)", logPath)
}

// Stop ends the controller.
func (c *Controller) Stop() {
	_ = c.Cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = c.Cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = c.Cmd.Process.Kill()
		<-done
	}
}

// Probe is a synthetic probe of one region: it heartbeats every 5 s, takes
// its checks from its assignment (again whenever it changes), and posts
// every check's result once a minute, spread over the minute in one batch
// a second. Down says which checks fail now.
type Probe struct {
	Base, Region, ID string
	Down             func(check string) bool

	client  *http.Client
	mu      sync.Mutex
	ingest  []time.Duration // how long each POST /results took
	Results atomic.Int64    // results posted and stored
}

// NewProbe makes a probe of region against the controller at base.
func NewProbe(base, region string) *Probe {
	return &Probe{Base: base, Region: region, ID: "loadgen-" + region, Down: func(string) bool { return false },
		client: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
}

// IngestLatencies returns the POST /results latencies so far and forgets
// them.
func (p *Probe) IngestLatencies() []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.ingest
	p.ingest = nil
	return out
}

// Call makes one request of the probe API with the probe's token; body is
// sent as JSON (gzipped when gz), the answer decoded into out when not nil.
func (p *Probe) Call(ctx context.Context, method, path string, body any, gz bool, hdr http.Header, out any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		var buf bytes.Buffer
		var w io.Writer = &buf
		var zw *gzip.Writer
		if gz {
			zw = gzip.NewWriter(&buf)
			w = zw
		}
		if err := json.NewEncoder(w).Encode(body); err != nil {
			return nil, err
		}
		if zw != nil {
			zw.Close()
		}
		rd = &buf
	}
	req, err := http.NewRequestWithContext(ctx, method, p.Base+path, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+Token(p.Region))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		if gz {
			req.Header.Set("Content-Encoding", "gzip")
		}
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusNotModified {
		return resp, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, out); err != nil {
			return resp, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return resp, nil
}

// Result is the synthetic result of check in the probe's region at at.
func (p *Probe) Result(check string, at time.Time) model.Result {
	r := model.Result{Check: check, Region: p.Region, Scheduled: at, Started: at, Probe: p.ID,
		DurationUS: 12000 + int64(len(check)*997%100)*100, Outcome: model.OutcomeUp, HTTPStatus: 200, Bytes: 512}
	if p.Down(check) {
		r.Outcome, r.HTTPStatus, r.ErrorClass, r.Message = model.OutcomeDown, 503, model.ErrStatus, "status 503"
	}
	return r
}

// Post posts rs as one batch and records how long it took.
func (p *Probe) Post(ctx context.Context, rs []model.Result) error {
	began := time.Now()
	var ack model.IngestAck
	if _, err := p.Call(ctx, http.MethodPost, "/api/v1/results", model.ResultBatch{Probe: p.ID, Results: rs}, true, nil, &ack); err != nil {
		return err
	}
	took := time.Since(began)
	if len(ack.Rejected) > 0 {
		return fmt.Errorf("%d results rejected, the first: %s", len(ack.Rejected), ack.Rejected[0].Error)
	}
	p.mu.Lock()
	p.ingest = append(p.ingest, took)
	p.mu.Unlock()
	p.Results.Add(int64(ack.Stored))
	return nil
}

// Run is the probe's life until ctx ends. With prime, it first posts a
// result of every assigned check, so that every check has a verdict at
// once.
func (p *Probe) Run(ctx context.Context, prime bool) error {
	started := time.Now()
	hb := func(path string) (model.HeartbeatAck, error) {
		var ack model.HeartbeatAck
		_, err := p.Call(ctx, http.MethodPost, path, model.Heartbeat{Probe: p.ID, Region: p.Region, StartedAt: started, SentAt: time.Now()}, false, nil, &ack)
		return ack, err
	}
	ack, err := hb("/api/v1/probes/register")
	if err != nil {
		return err
	}
	var checks []string
	etag := ""
	fetch := func() error {
		var a model.Assignment
		hdr := http.Header{}
		if etag != "" {
			hdr.Set("If-None-Match", etag)
		}
		resp, err := p.Call(ctx, http.MethodGet, "/api/v1/assignment?probe="+p.ID, nil, false, hdr, &a)
		if err != nil {
			return err
		}
		if resp.StatusCode == http.StatusOK {
			etag = resp.Header.Get("ETag")
			checks = checks[:0]
			for _, c := range a.Checks {
				checks = append(checks, c.ID)
			}
			slices.Sort(checks)
		}
		return nil
	}
	if err := fetch(); err != nil {
		return err
	}
	if prime {
		at := time.Now().Truncate(time.Second)
		for from := 0; from < len(checks); from += 1000 {
			var rs []model.Result
			for _, c := range checks[from:min(from+1000, len(checks))] {
				rs = append(rs, p.Result(c, at))
			}
			if err := p.Post(ctx, rs); err != nil {
				return err
			}
		}
	}
	assignment := ack.Assignment
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	next := 0
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			if n%5 == 0 {
				if ack, err = hb("/api/v1/probes/heartbeat"); err != nil {
					return err
				}
				if ack.Assignment != assignment {
					assignment = ack.Assignment
					if err := fetch(); err != nil {
						return err
					}
				}
			}
			if len(checks) == 0 {
				continue
			}
			perSecond := (len(checks) + 59) / 60
			at := now.Truncate(time.Second)
			rs := make([]model.Result, 0, perSecond)
			for range perSecond {
				rs = append(rs, p.Result(checks[next%len(checks)], at))
				next++
			}
			if err := p.Post(ctx, rs); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
	}
}

// Percentile is the p-th percentile (0–100) of ds, 0 for none.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}
