package dashboard

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/mmcdole/gofeed"
	"golang.org/x/crypto/bcrypt"
)

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// /history shows each month with its uptime, incidents (durations, linked
// to their pages) and maintenance; /incidents/{id} one timeline.
func TestHistoryAndIncidentPages(t *testing.T) {
	srv, _ := newTestServer(t)
	resp, page := get(t, srv.URL+"/history")
	if resp.StatusCode != 200 {
		t.Fatalf("history: %d", resp.StatusCode)
	}
	for _, want := range []string{"December 2026", "November 2026", `<a href="/incidents/7">API errors</a>`, "lasted 42m", "99.91%",
		"Database upgrade", "No incidents.", "Recovered &amp; &lt;fixed&gt;"} {
		if !strings.Contains(page, want) {
			t.Errorf("history lacks %q", want)
		}
	}
	resp, page = get(t, srv.URL+"/incidents/7")
	if resp.StatusCode != 200 || !strings.Contains(page, "<h1>API errors</h1>") || strings.Index(page, "Recovered") > strings.Index(page, "Errors in 3") {
		t.Fatalf("incident page: %d\n%s", resp.StatusCode, page)
	}
	for _, path := range []string{"/incidents/8", "/incidents/x"} {
		if resp, _ := get(t, srv.URL+path); resp.StatusCode != 404 {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
}

// The feeds parse as what they say they are, one entry per incident, per
// later update and per announced maintenance, newest change first, each
// with a stable id, a link to its page, and the dates a reader needs:
// maintenance dated when it was announced, an incident updated when it
// last changed. Atom has an author and text summaries; RSS guids are not
// links; text an SRE typed is text, never markup.
func TestHistoryFeeds(t *testing.T) {
	srv, _ := newTestServer(t)
	host := "127.0.0.1" // a tag URI names the host without its port
	for _, kind := range []string{"atom", "rss"} {
		resp, body := get(t, srv.URL+"/history."+kind)
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/"+kind+"+xml") || resp.Header.Get("ETag") == "" {
			t.Fatalf("%s: Content-Type %q, ETag %q", kind, ct, resp.Header.Get("ETag"))
		}
		f, err := gofeed.NewParser().ParseString(body)
		if err != nil {
			t.Fatalf("%s: %v\n%s", kind, err, body)
		}
		if f.FeedType != kind {
			t.Fatalf("parsed as %s, want %s", f.FeedType, kind)
		}
		var ids, titles []string
		for _, it := range f.Items {
			ids = append(ids, it.GUID)
			titles = append(titles, it.Title)
			if it.Link == "" || it.UpdatedParsed == nil && it.PublishedParsed == nil {
				t.Errorf("%s: entry %q lacks a link or a date", kind, it.Title)
			}
		}
		want := []string{
			"tag:" + host + ",2026:maintenance-db-1765332000",
			"tag:" + host + ",2026:maintenance-db-1762000000",
			"tag:" + host + ",2026:incident-7-update-3",
			"tag:" + host + ",2026:incident-7",
			"tag:" + host + ",2026:incident-7-update-2",
		}
		if strings.Join(ids, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: ids, newest first:\n%s\nwant\n%s\n(titles %v)", kind, strings.Join(ids, "\n"), strings.Join(want, "\n"), titles)
		}
		if f.Items[3].Link != srv.URL+"/incidents/7" || f.Items[3].Title != "API errors" || f.Items[2].Title != "Resolved: incident #7" ||
			f.Items[0].Link != srv.URL+"/maintenance/db-1765332000" {
			t.Errorf("%s: the entries: %v", kind, titles)
		}
		switch kind {
		case "atom":
			if len(f.Links) == 0 || f.Links[0] != srv.URL+"/history.atom" || len(f.Authors) == 0 || f.Authors[0].Name != "Example" {
				t.Errorf("atom: links %v, authors %v: want rel=self first and an author", f.Links, f.Authors)
			}
			if f.Items[0].Published != "2026-12-01T09:00:00Z" || f.Items[3].Updated != "2026-11-03T10:42:00Z" {
				t.Errorf("atom: announced maintenance published %s, incident updated %s", f.Items[0].Published, f.Items[3].Updated)
			}
			if n := strings.Count(body, `<summary type="text">`); n != len(f.Items) || !strings.Contains(body, "Recovered &amp; &lt;fixed&gt;") {
				t.Errorf("atom: %d text summaries of %d, or the update's text is not escaped as text", n, len(f.Items))
			}
		case "rss":
			if n := strings.Count(body, `isPermaLink="false"`); n != len(f.Items) || !strings.Contains(body, `<atom:link href="`+srv.URL+`/history.rss" rel="self"`) {
				t.Errorf("rss: %d guids say they are not links of %d, or no atom:link to itself", n, len(f.Items))
			}
			if !strings.Contains(body, "Recovered &amp;amp; &amp;lt;fixed&amp;gt;") {
				t.Errorf("rss: the update's text is not escaped into the HTML description")
			}
		}
	}
	if resp, page := get(t, srv.URL+"/maintenance/db-1"); resp.StatusCode != 200 || !strings.Contains(page, "Database upgrade") {
		t.Errorf("maintenance page: %d", resp.StatusCode)
	}
	if resp, _ := get(t, srv.URL+"/maintenance/none"); resp.StatusCode != 404 {
		t.Errorf("unknown maintenance: %d", resp.StatusCode)
	}
}

// fakeSubscriptions keeps subscribers in memory.
type fakeSubscriptions struct {
	Subscriptions
	rows []SubscriberRow
}

func (f *fakeSubscriptions) Subscribers(context.Context) ([]SubscriberRow, error) { return f.rows, nil }

func (f *fakeSubscriptions) RemoveSubscriber(_ context.Context, id int64) error {
	f.rows = slices.DeleteFunc(f.rows, func(r SubscriberRow) bool { return r.ID == id })
	return nil
}

// The SRE view lists the subscribers with their addresses (never shown
// on public pages) and removes one with the session's CSRF token.
func TestSREManagesSubscribers(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	subs := &fakeSubscriptions{rows: []SubscriberRow{{ID: 1, Kind: "email", Address: "ann@example.com", Confirmed: true},
		{ID: 2, Kind: "webhook", Address: "https://ops.example.com/status", Components: []string{"api"}}}}
	s := New(Options{Source: &fakeSource{page: samplePage(3, 90)}, Subscriptions: subs,
		Users: func() []User { return []User{{Name: "alice", PasswordHash: string(hash)}} }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := httptest.NewServer(s)
	defer srv.Close()
	if resp, _ := noRedirect(nil).Get(srv.URL + "/sre/subscribers"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("anonymous: %d", resp.StatusCode)
	}
	jar, _ := cookiejar.New(nil)
	c := noRedirect(jar)
	tok := csrfOf(t, c, srv.URL+"/sre/login")
	c.PostForm(srv.URL+"/sre/login", url.Values{"csrf": {tok}, "user": {"alice"}, "password": {"correct horse"}})
	tok = csrfOf(t, c, srv.URL+"/sre/subscribers")
	resp, _ := c.Get(srv.URL + "/sre/subscribers")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "ann@example.com") || !strings.Contains(string(b), "not yet") {
		t.Fatalf("the list:\n%s", b)
	}
	if resp, _ := c.PostForm(srv.URL+"/sre/subscribers/remove", url.Values{"id": {"1"}}); resp.StatusCode != http.StatusForbidden || len(subs.rows) != 2 {
		t.Fatalf("remove without CSRF: %d", resp.StatusCode)
	}
	if resp, _ := c.PostForm(srv.URL+"/sre/subscribers/remove", url.Values{"id": {"1"}, "csrf": {tok}}); resp.StatusCode != http.StatusSeeOther || len(subs.rows) != 1 {
		t.Fatalf("remove: %d, %d left", resp.StatusCode, len(subs.rows))
	}
	if _, page := get(t, srv.URL+"/"); strings.Contains(page, "ops.example.com") {
		t.Fatal("an address on the public page")
	}
}
