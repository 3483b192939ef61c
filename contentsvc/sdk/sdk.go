// Package sdk is contentsvc's client, as an app embeds it to render in-app
// content. It is built to survive the network: the segment request has a
// short timeout and its answer is cached; manifests and content come from
// the CDN and are cached; on failure it serves what it saw last, then the
// `everyone` segment, and with nothing at all it renders nothing and leaves
// the page intact. It reports which level served the user.
package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// Level says how well a render was served.
type Level string

// Levels, best first.
const (
	Fresh   Level = "fresh"   // everything from the service now
	Cached  Level = "cached"  // something came from the client's cache: possibly stale
	Default Level = "default" // the user's segments were unknown: `everyone` was used
	Empty   Level = "empty"   // nothing could be shown
)

var rank = map[Level]int{Fresh: 0, Cached: 1, Default: 2, Empty: 3}

func worse(a, b Level) Level {
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// Options configure a client.
type Options struct {
	BaseURL string // contentsvc: the segments API
	CDNURL  string // default: BaseURL
	HTTP    *http.Client
	// SegmentTimeout bounds the segment request (default 300 ms); CDNTimeout
	// each CDN request (default 2 s).
	SegmentTimeout, CDNTimeout time.Duration
	// Header is sent with every request.
	Header http.Header
	Logger *slog.Logger
}

// Item is one piece of content to render.
type Item struct {
	ID      string          `json:"id"`
	Version int             `json:"version"`
	Body    json.RawMessage `json:"body"`
}

// Render is what a user is shown, and how.
type Render struct {
	Level    Level                    `json:"level"`
	Segments []string                 `json:"segments"`
	Items    []Item                   `json:"items"`
	Steps    map[string]time.Duration `json:"steps"`
	Errors   []error                  `json:"-"`
}

type manifest struct {
	Segment string `json:"segment"`
	Content []struct {
		ID      string `json:"id"`
		Version int    `json:"version"`
		URL     string `json:"url"`
	} `json:"content"`
}

// Client renders content for users; it is safe for concurrent use, and its
// caches live as long as it does.
type Client struct {
	o Options

	mu        sync.Mutex
	segments  map[string][]string // user → segments
	manifests map[string]manifest // segment → manifest
	content   map[string]Item     // URL → item (versions are immutable)
	lastSeen  map[string]Item     // content id → newest item seen
}

// New returns a client.
func New(o Options) *Client {
	if o.CDNURL == "" {
		o.CDNURL = o.BaseURL
	}
	if o.HTTP == nil {
		o.HTTP = http.DefaultClient
	}
	if o.SegmentTimeout <= 0 {
		o.SegmentTimeout = 300 * time.Millisecond
	}
	if o.CDNTimeout <= 0 {
		o.CDNTimeout = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Client{o: o, segments: map[string][]string{}, manifests: map[string]manifest{}, content: map[string]Item{}, lastSeen: map[string]Item{}}
}

func (c *Client) get(ctx context.Context, timeout time.Duration, u string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	for k, vs := range c.o.Header {
		req.Header[k] = vs
	}
	resp, err := c.o.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}

// Render builds what user sees. It never panics and never fails: problems
// lower the level and are listed in Errors.
func (c *Client) Render(ctx context.Context, user string, attrs map[string]string) (r Render) {
	r = Render{Level: Fresh, Steps: map[string]time.Duration{}}
	defer func() {
		if p := recover(); p != nil {
			c.o.Logger.Error("content render panicked; rendering nothing", "panic", p)
			r = Render{Level: Empty, Steps: r.Steps, Errors: append(r.Errors, fmt.Errorf("panic: %v", p))}
		}
	}()
	start := time.Now()
	r.Segments = c.userSegments(ctx, user, attrs, &r)
	r.Steps["segments"] = time.Since(start)

	start = time.Now()
	entries := map[string]struct {
		version int
		url     string
	}{}
	for _, seg := range r.Segments {
		m, ok := c.manifest(ctx, seg, &r)
		if !ok {
			continue
		}
		for _, e := range m.Content {
			if cur, seen := entries[e.ID]; !seen || e.Version > cur.version {
				entries[e.ID] = struct {
					version int
					url     string
				}{e.Version, e.URL}
			}
		}
	}
	r.Steps["manifest"] = time.Since(start)

	start = time.Now()
	ids := make([]string, 0, len(entries))
	for id := range entries {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if item, ok := c.item(ctx, id, entries[id].url, &r); ok {
			r.Items = append(r.Items, item)
		}
	}
	r.Steps["content"] = time.Since(start)
	if len(r.Items) == 0 {
		r.Level = Empty
	}
	return r
}

func (c *Client) userSegments(ctx context.Context, user string, attrs map[string]string, r *Render) []string {
	q := url.Values{"user_id": {user}}
	for k, v := range attrs {
		q.Set(k, v)
	}
	var resp struct {
		Segments []string `json:"segments"`
	}
	err := c.get(ctx, c.o.SegmentTimeout, strings.TrimRight(c.o.BaseURL, "/")+"/v1/segments?"+q.Encode(), &resp)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil && len(resp.Segments) > 0 {
		c.segments[user] = resp.Segments
		return resp.Segments
	}
	if err == nil {
		err = fmt.Errorf("segments of %s: empty answer", user)
	}
	r.Errors = append(r.Errors, fmt.Errorf("segments: %w", err))
	if cached, ok := c.segments[user]; ok {
		r.Level = worse(r.Level, Cached)
		return cached
	}
	r.Level = worse(r.Level, Default)
	return []string{"everyone"}
}

func (c *Client) manifest(ctx context.Context, segment string, r *Render) (manifest, bool) {
	var m manifest
	err := c.get(ctx, c.o.CDNTimeout, strings.TrimRight(c.o.CDNURL, "/")+"/cdn/manifests/"+url.PathEscape(segment)+".json", &m)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		c.manifests[segment] = m
		return m, true
	}
	if strings.Contains(err.Error(), "status 404") {
		return m, false // nothing published to this segment
	}
	r.Errors = append(r.Errors, fmt.Errorf("manifest %s: %w", segment, err))
	if cached, ok := c.manifests[segment]; ok {
		r.Level = worse(r.Level, Cached)
		return cached, true
	}
	return m, false
}

func (c *Client) item(ctx context.Context, id, path string, r *Render) (Item, bool) {
	c.mu.Lock()
	if it, ok := c.content[path]; ok { // immutable: no need to ask again
		c.mu.Unlock()
		return it, true
	}
	c.mu.Unlock()
	var doc map[string]json.RawMessage
	err := c.get(ctx, c.o.CDNTimeout, strings.TrimRight(c.o.CDNURL, "/")+path, &doc)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		var version int
		_ = json.Unmarshal(doc["version"], &version)
		body, _ := json.Marshal(doc)
		it := Item{ID: id, Version: version, Body: body}
		c.content[path] = it
		if last, ok := c.lastSeen[id]; !ok || version >= last.Version {
			c.lastSeen[id] = it
		}
		return it, true
	}
	r.Errors = append(r.Errors, fmt.Errorf("content %s: %w", id, err))
	if last, ok := c.lastSeen[id]; ok {
		r.Level = worse(r.Level, Cached)
		return last, true
	}
	return Item{}, false
}
