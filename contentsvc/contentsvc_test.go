package contentsvc

import (
	"encoding/json"
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
	t.Cleanup(srv.Close)
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

func TestBadFaultsNameTheField(t *testing.T) {
	srv := newService(t)
	for body, want := range map[string]string{
		`{"target":"dns"}`:                              `target: "dns" is not segments, cdn or all`,
		`{"target":"cdn"}`:                              "set latency_ms, error_status or outage",
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
