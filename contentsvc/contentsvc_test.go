package contentsvc

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nines-sre/nines/model"
)

func newService(t *testing.T) *httptest.Server {
	t.Helper()
	s, err := New(Options{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() { srv.Close(); s.Close() })
	return srv
}

func get(t *testing.T, url, region string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if region != "" {
		req.Header.Set(model.RegionHeader, region)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func send(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSegmentsAreDeterministic(t *testing.T) {
	srv := newService(t)
	resp, a := get(t, srv.URL+"/v1/segments?user_id=alice", "")
	_, b := get(t, srv.URL+"/v1/segments?user_id=alice", "")
	if resp.StatusCode != 200 || a != b || !strings.Contains(a, `"everyone"`) {
		t.Fatalf("%d %s / %s", resp.StatusCode, a, b)
	}
	if resp, body := get(t, srv.URL+"/v1/segments", ""); resp.StatusCode != 400 || !strings.Contains(body, "user_id: required") {
		t.Fatalf("missing user_id: %d %s", resp.StatusCode, body)
	}
}

func TestCDNServesImmutableVersionsWithETag(t *testing.T) {
	srv := newService(t)
	resp, body := get(t, srv.URL+"/cdn/content/welcome/v1.json", "")
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") || resp.Header.Get("ETag") == "" {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(body), &doc); err != nil || doc["version"] != 1.0 {
		t.Fatalf("content %s", body)
	}
	again, _ := get(t, srv.URL+"/cdn/content/welcome/v1.json", "", "If-None-Match", resp.Header.Get("ETag"))
	if again.StatusCode != http.StatusNotModified {
		t.Fatalf("conditional GET: %d", again.StatusCode)
	}
	manifest, _ := get(t, srv.URL+"/cdn/manifests/everyone.json", "")
	if manifest.StatusCode != 200 || manifest.Header.Get("Cache-Control") != "public, max-age=60" {
		t.Fatalf("manifest %d %v", manifest.StatusCode, manifest.Header)
	}
	if resp, _ := get(t, srv.URL+"/cdn/../../etc/passwd", ""); resp.StatusCode != 404 {
		t.Fatalf("path escape: %d", resp.StatusCode)
	}
}

func TestFaultsScopedToOneRegion(t *testing.T) {
	srv := newService(t)
	code, body := send(t, "POST", srv.URL+"/admin/faults", `{"target":"segments","region":"eu-frankfurt","error_status":503}`)
	if code != 201 {
		t.Fatalf("%d %s", code, body)
	}
	if resp, _ := get(t, srv.URL+"/v1/segments?user_id=a", "eu-frankfurt"); resp.StatusCode != 503 {
		t.Fatalf("frankfurt: %d", resp.StatusCode)
	}
	if resp, _ := get(t, srv.URL+"/v1/segments?user_id=a", "eu-london"); resp.StatusCode != 200 {
		t.Fatalf("london: %d", resp.StatusCode)
	}
	if resp, _ := get(t, srv.URL+"/cdn/manifests/everyone.json", "eu-frankfurt"); resp.StatusCode != 200 {
		t.Fatalf("cdn in frankfurt: %d", resp.StatusCode)
	}
	code, _ = send(t, "POST", srv.URL+"/admin/faults", `{"target":"cdn","outage":true}`)
	if code != 201 {
		t.Fatal(code)
	}
	if resp, errText := get(t, srv.URL+"/cdn/manifests/everyone.json", ""); resp != nil {
		t.Fatalf("outage answered %d", resp.StatusCode)
	} else if !strings.Contains(errText, "EOF") {
		t.Fatalf("outage: %s", errText)
	}
	_, list := get(t, srv.URL+"/admin/faults", "")
	if strings.Count(list, `"id"`) != 2 {
		t.Fatalf("faults %s", list)
	}
	if code, body := send(t, "DELETE", srv.URL+"/admin/faults", ""); code != 200 || !strings.Contains(body, `"cleared":2`) {
		t.Fatalf("clear: %d %s", code, body)
	}
	if resp, _ := get(t, srv.URL+"/v1/segments?user_id=a", "eu-frankfurt"); resp.StatusCode != 200 {
		t.Fatalf("after clear: %d", resp.StatusCode)
	}
}

// A fault of one country reaches the clients there (the country their
// edge tells), never the probes, which send none.
func TestFaultsScopedToOneCountry(t *testing.T) {
	srv := newService(t)
	if code, body := send(t, "POST", srv.URL+"/admin/faults", `{"target":"all","country":"DE","error_status":503}`); code != 201 {
		t.Fatalf("%d %s", code, body)
	}
	for _, tc := range []struct {
		path, region string
		hdr          []string
		want         int
	}{
		{"/v1/segments?user_id=a", "eu-frankfurt", []string{CountryHeader, "DE"}, 503},
		{"/cdn/manifests/everyone.json", "", []string{CountryHeader, "DE"}, 503},
		{"/v1/segments?user_id=a", "eu-frankfurt", []string{CountryHeader, "GB"}, 200},
		{"/v1/segments?user_id=a", "eu-frankfurt", nil, 200}, // a probe in Frankfurt
	} {
		if resp, _ := get(t, srv.URL+tc.path, tc.region, tc.hdr...); resp.StatusCode != tc.want {
			t.Errorf("%s from %v: %d, want %d", tc.path, tc.hdr, resp.StatusCode, tc.want)
		}
	}
	if code, body := send(t, "POST", srv.URL+"/admin/faults", `{"target":"cdn","country":"Germany","outage":true}`); code != 400 ||
		!strings.Contains(body, `country: \"Germany\" is not an ISO 3166 alpha-2 code`) {
		t.Fatalf("a bad country: %d %s", code, body)
	}
}

func TestBadFaultsNameTheField(t *testing.T) {
	srv := newService(t)
	for body, want := range map[string]string{
		`{"target":"dns"}`:                              `target: "dns" is not segments, cdn, all or pipeline`,
		`{"target":"cdn"}`:                              "set latency_ms, error_status, outage or broken_content",
		`{"target":"cdn","error_status":200}`:           "error_status: 200 is not a 4xx or 5xx status",
		`{"target":"cdn","latency_ms":-1}`:              "latency_ms: -1 is outside",
		`{"target":"cdn","error_rate":0.5}`:             "error_rate: needs error_status",
		`{"target":"cdn","outage":true,"colour":"red"}`: `unknown field "colour"`,
		`{"target":`:                                    "fault:",
	} {
		code, raw := send(t, "POST", srv.URL+"/admin/faults", body)
		var e struct{ Error string }
		_ = json.Unmarshal([]byte(raw), &e)
		got := e.Error
		if code != 400 || !strings.Contains(got, want) {
			t.Errorf("%s: %d %s, want 400 with %q", body, code, got, want)
		}
	}
}

func TestAdminToken(t *testing.T) {
	s, err := New(Options{DataDir: t.TempDir(), AdminToken: "secret-admin", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	if code, _ := send(t, "POST", srv.URL+"/admin/faults", `{"target":"cdn","outage":true}`); code != 401 {
		t.Fatalf("without token: %d", code)
	}
	if resp, _ := get(t, srv.URL+"/admin/faults", "", "Authorization", "Bearer secret-admin"); resp.StatusCode != 200 {
		t.Fatalf("with token: %d", resp.StatusCode)
	}
}

func TestSegmentRules(t *testing.T) {
	rules := []SegmentRule{{ID: "beta", Match: map[string][]string{"plan": {"pro"}}}, {ID: "half", Percent: 50}}
	if got := Assign(rules, "u1", map[string]string{"plan": "pro"}); got[0] != "everyone" || got[1] != "beta" {
		t.Fatalf("pro user: %v", got)
	}
	if got := Assign(rules, "u1", map[string]string{"plan": "free"}); len(got) > 2 || (len(got) == 2 && got[1] != "half") {
		t.Fatalf("free user: %v", got)
	}
	in := 0
	for i := range 1000 {
		for _, s := range Assign(rules, fmt.Sprint("user-", i), nil) {
			if s == "half" {
				in++
			}
		}
	}
	if in < 400 || in > 600 {
		t.Fatalf("percent rule took %d of 1000", in)
	}
	srv := newService(t)
	_, body := get(t, srv.URL+"/v1/segments?user_id=ann&plan=enterprise&country=DE", "")
	if !strings.Contains(body, `"beta"`) || !strings.Contains(body, `"germany"`) {
		t.Fatalf("default rules: %s", body)
	}
}

func put(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	return send(t, method, url, body)
}

func TestDraftPublishAndAudit(t *testing.T) {
	srv := newService(t)
	code, body := put(t, "PUT", srv.URL+"/v1/content/promo/draft", `{"title": "Spring sale", "body": "20% off"}`)
	if code != 200 {
		t.Fatalf("draft: %d %s", code, body)
	}
	code, body = put(t, "POST", srv.URL+"/v1/content/promo/publish", `{"segments": ["beta", "everyone"]}`)
	if code != 201 || !strings.Contains(body, `"version":1`) {
		t.Fatalf("publish: %d %s", code, body)
	}
	put(t, "PUT", srv.URL+"/v1/content/promo/draft", `{"title": "Spring sale", "body": "25% off"}`)
	code, body = put(t, "POST", srv.URL+"/v1/content/promo/publish", `{"segments": ["beta"]}`)
	if code != 201 || !strings.Contains(body, `"version":2`) {
		t.Fatalf("second publish: %d %s", code, body)
	}
	// Both versions stay addressable; each segment's manifest points at its newest.
	for v, want := range map[int]string{1: "20% off", 2: "25% off"} {
		resp, b := get(t, fmt.Sprintf("%s/cdn/content/promo/v%d.json", srv.URL, v), "")
		if resp.StatusCode != 200 || !strings.Contains(b, want) || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
			t.Fatalf("v%d: %d %s", v, resp.StatusCode, b)
		}
	}
	_, beta := get(t, srv.URL+"/cdn/manifests/beta.json", "")
	_, everyone := get(t, srv.URL+"/cdn/manifests/everyone.json", "")
	if !strings.Contains(beta, `"/cdn/content/promo/v2.json"`) || !strings.Contains(everyone, `"/cdn/content/promo/v1.json"`) ||
		!strings.Contains(everyone, `"/cdn/content/welcome/v1.json"`) {
		t.Fatalf("manifests:\nbeta %s\neveryone %s", beta, everyone)
	}
	_, audit := get(t, srv.URL+"/admin/audit", "")
	if strings.Count(audit, `"action":"publish"`) != 3 || strings.Count(audit, `"action":"edit"`) != 2 {
		t.Fatalf("audit log %s", audit)
	}
}

func TestBadContentChangesNothing(t *testing.T) {
	srv := newService(t)
	_, before := get(t, srv.URL+"/cdn/manifests/everyone.json", "")
	for _, tc := range []struct{ method, path, body, want string }{
		{"PUT", "/v1/content/promo/draft", `{"title": `, "not a JSON object"},
		{"PUT", "/v1/content/promo/draft", `{"body": "no title"}`, "title: a non-empty string is required"},
		{"PUT", "/v1/content/Bad%20Id/draft", `{"title": "x"}`, "is not a content id"},
		{"POST", "/v1/content/missing/publish", `{"segments": ["everyone"]}`, "no draft of missing"},
		{"POST", "/v1/content/welcome/publish", `{"segments": ["martians"]}`, `segments[0]: unknown segment \"martians\"`},
		{"POST", "/v1/content/welcome/publish", `{"segment": "everyone"}`, "unknown field"},
	} {
		code, body := put(t, tc.method, srv.URL+tc.path, tc.body)
		if code/100 != 4 || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s %s: %d %s, want a 4xx with %q", tc.method, tc.path, tc.body, code, body, tc.want)
		}
	}
	_, after := get(t, srv.URL+"/cdn/manifests/everyone.json", "")
	_, audit := get(t, srv.URL+"/admin/audit", "")
	if before != after || strings.Count(audit, `"action"`) != 1 {
		t.Fatalf("bad requests changed something: manifest %q → %q, audit %s", before, after, audit)
	}
	if resp, _ := get(t, srv.URL+"/cdn/content/welcome/v2.json", ""); resp.StatusCode != 404 {
		t.Fatal("a second version appeared")
	}
}

// /metrics counts requests by route pattern (never the raw path) and
// status, injected faults included, beside the runtime's series.
func TestMetricsCountRequestsByRoute(t *testing.T) {
	srv := newService(t)
	for _, u := range []string{"/v1/segments?user_id=alice", "/v1/segments?user_id=bob", "/cdn/manifests/everyone.json", "/cdn/no/such/file"} {
		get(t, srv.URL+u, "")
	}
	if code, body := send(t, "POST", srv.URL+"/admin/faults", `{"target":"segments","error_status":503}`); code != http.StatusCreated {
		t.Fatalf("fault: %d %s", code, body)
	}
	get(t, srv.URL+"/v1/segments?user_id=carol", "")
	_, body := get(t, srv.URL+"/metrics", "")
	for _, want := range []string{
		`contentsvc_http_requests_total{code="200",route="/v1/segments"} 2`,
		`contentsvc_http_requests_total{code="503",route="/v1/segments"} 1`,
		`contentsvc_http_requests_total{code="200",route="/cdn/*"} 1`,
		`contentsvc_http_requests_total{code="404",route="/cdn/*"} 1`,
		`contentsvc_http_request_duration_seconds_count{route="/v1/segments"} 3`,
		`contentsvc_faults_active 1`,
		`go_goroutines `,
		`process_cpu_seconds_total `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("no %s in /metrics", want)
		}
	}
}

// The SDK is served versioned from the CDN (a version for a year, the
// newest 1.x for minutes), the demo host page embeds it, and what the SDK
// calls answers a customer's origin.
func TestBrowserSDKIsServedVersioned(t *testing.T) {
	srv := newService(t)
	resp, body := get(t, srv.URL+"/sdk/v1/contentsvc-1.0.0.js", "")
	if resp.StatusCode != 200 || !strings.Contains(body, `var VERSION = "1.0.0"`) ||
		resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("versioned SDK: %d %v", resp.StatusCode, resp.Header)
	}
	// An older version stays as it was published; the alias is the newest.
	resp, newest := get(t, srv.URL+"/sdk/v1/contentsvc-1.1.0.js", "")
	if resp.StatusCode != 200 || !strings.Contains(newest, `var VERSION = "1.1.0"`) || newest == body {
		t.Fatalf("SDK 1.1.0: %d", resp.StatusCode)
	}
	if resp, latest := get(t, srv.URL+"/sdk/v1/contentsvc-1.js", ""); resp.StatusCode != 200 || latest != newest || resp.Header.Get("Cache-Control") != "public, max-age=300" {
		t.Fatalf("newest 1.x: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ := get(t, srv.URL+"/sdk/v1/contentsvc-9.9.9.js", ""); resp.StatusCode != 404 {
		t.Fatalf("an unknown version: %d", resp.StatusCode)
	}
	if resp, _ := get(t, srv.URL+"/v1/segments?user_id=alice", ""); resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("segments across origins: %v", resp.Header)
	}
	if resp, page := get(t, srv.URL+"/app", ""); resp.StatusCode != 200 || !strings.Contains(page, `id="in-app-content"`) || !strings.Contains(page, `src="/sdk/v1/contentsvc-1.1.0.js"`) {
		t.Fatalf("host page: %d", resp.StatusCode)
	}
	// Under a CDN outage the SDK is not served either.
	if code, body := send(t, "POST", srv.URL+"/admin/faults", `{"target":"cdn","error_status":503}`); code != http.StatusCreated {
		t.Fatalf("fault: %d %s", code, body)
	}
	if resp, _ := get(t, srv.URL+"/sdk/v1/contentsvc-1.0.0.js", ""); resp.StatusCode != 503 {
		t.Fatalf("the SDK during a CDN outage: %d", resp.StatusCode)
	}
}

// Error reports are bounded, validated field by field, and kept once per id.
func TestSDKErrorReports(t *testing.T) {
	srv := newService(t)
	good := `{"id":"e-1","type":"error","where":"component promo","message":"unknown block type","stack":"at renderBlock","sdk_version":"1.0.0"}`
	for _, tc := range []struct{ body, want string }{
		{`{`, "body: not an error report"},
		{`{"type":"error","message":"x"}`, "id: 1 to 64 characters"},
		{`{"id":"e","type":"click","message":"x"}`, `type: \"click\" is not error`},
		{`{"id":"e","type":"error"}`, "message: required"},
		{`{"id":"e","type":"error","message":"` + strings.Repeat("x", 17<<10) + `"}`, "more than 16 KiB"},
	} {
		if code, body := send(t, "POST", srv.URL+"/v1/errors", tc.body); code/100 != 4 || !strings.Contains(body, tc.want) {
			t.Errorf("%.40s: %d %s, want %q", tc.body, code, body, tc.want)
		}
	}
	for range 3 {
		if code, body := send(t, "POST", srv.URL+"/v1/errors", good); code != http.StatusAccepted {
			t.Fatalf("a good report: %d %s", code, body)
		}
	}
	_, list := get(t, srv.URL+"/admin/errors", "")
	if strings.Count(list, `"id":"e-1"`) != 1 || !strings.Contains(list, `"where":"component promo"`) {
		t.Fatalf("kept: %s", list)
	}
	if _, m := get(t, srv.URL+"/metrics", ""); !strings.Contains(m, "contentsvc_sdk_errors_total 1") {
		t.Fatal("contentsvc_sdk_errors_total is not 1 after one report sent three times")
	}
}

// A broken_content fault publishes to everyone an item the browser SDK
// cannot render, and only while it holds; it is a fault of the CDN.
func TestBrokenContentFault(t *testing.T) {
	srv := newService(t)
	if code, body := send(t, "POST", srv.URL+"/admin/faults", `{"target":"segments","broken_content":true}`); code != 400 || !strings.Contains(body, "broken_content: a fault of the cdn") {
		t.Fatalf("on segments: %d %s", code, body)
	}
	if code, body := send(t, "POST", srv.URL+"/admin/faults", `{"target":"cdn","broken_content":true}`); code != http.StatusCreated {
		t.Fatalf("%d %s", code, body)
	}
	mresp, m := get(t, srv.URL+"/cdn/manifests/everyone.json", "")
	dresp, doc := get(t, srv.URL+"/cdn/content/broken-promo/v1.json", "")
	if !strings.Contains(m, `"id":"broken-promo"`) || !strings.Contains(m, `"id":"welcome"`) || !strings.Contains(doc, `"type": "countdown"`) {
		t.Fatalf("manifest %s\ncontent %s", m, doc)
	}
	// Published content, as far as the CDN and its checks can tell: an
	// ETag, as every document the CDN serves has.
	if mresp.Header.Get("ETag") == "" || dresp.Header.Get("ETag") == "" || mresp.Header.Get("ETag") == dresp.Header.Get("ETag") {
		t.Fatalf("ETags: manifest %q, content %q", mresp.Header.Get("ETag"), dresp.Header.Get("ETag"))
	}
	send(t, "DELETE", srv.URL+"/admin/faults", "")
	if _, m := get(t, srv.URL+"/cdn/manifests/everyone.json", ""); strings.Contains(m, "broken-promo") {
		t.Fatalf("after the clear: %s", m)
	}
}
