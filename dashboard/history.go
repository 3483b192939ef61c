package dashboard

import (
	"context"
	"encoding/xml"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/feeds"
)

// history serves /history: the past months, as published.
func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	e, err := s.past.Get(r.Context())
	if err != nil {
		s.o.Logger.Error("history page", "err", err)
		http.Error(w, "history unavailable", http.StatusInternalServerError)
		return
	}
	e.Serve(w, r, "public, max-age=10")
}

// incident serves /incidents/{id}: one incident's timeline, the page that
// feeds and notifications link to.
func (s *Server) incident(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	in, err := s.o.Source.Incident(r.Context(), id)
	s.timeline(w, r, "incident", in, err)
}

// maintenance serves /maintenance/{id}: an announced maintenance
// window's page, which its shortlink and feed entries name.
func (s *Server) maintenance(w http.ResponseWriter, r *http.Request) {
	in, err := s.o.Source.Maintenance(r.Context(), r.PathValue("id"))
	s.timeline(w, r, "maintenance", in, err)
}

// timeline serves the page of an incident or a maintenance window.
func (s *Server) timeline(w http.ResponseWriter, r *http.Request, what string, in *Incident, err error) {
	switch {
	case err != nil:
		s.o.Logger.Error(what+" page", what, r.PathValue("id"), "err", err)
		http.Error(w, what+" unavailable", http.StatusInternalServerError)
		return
	case in == nil:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=10")
	s.render(w, "incident", in)
}

// feed serves /history.atom and /history.rss, as published: one entry
// per incident, per incident update and per announced maintenance, newest
// first, each with a stable id.
func (s *Server) feed(w http.ResponseWriter, r *http.Request) {
	format := "rss"
	if strings.HasSuffix(r.URL.Path, ".atom") {
		format = "atom"
	}
	e, err := s.feeds[format].Get(r.Context(), s.publicURL(r))
	if err != nil {
		s.o.Logger.Error("history feed", "err", err)
		http.Error(w, "history unavailable", http.StatusInternalServerError)
		return
	}
	e.Serve(w, r, "public, max-age=10")
}

// buildFeed renders the feed in format for the page at base.
func (s *Server) buildFeed(ctx context.Context, format, base string) (struct{}, []byte, error) {
	p, err := s.o.Source.History(ctx)
	if err != nil {
		return struct{}{}, nil, err
	}
	// A tag URI's authority is a host name, without a port (RFC 4151).
	host := strings.TrimPrefix(strings.TrimPrefix(base, "https://"), "http://")
	if u, err := url.Parse(base); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	f := historyFeed(p, base, host)
	if format == "atom" {
		b, err := f.atom()
		return struct{}{}, b, err
	}
	b, err := f.rss()
	return struct{}{}, b, err
}

// publicURL is the page's own address: as configured, or (a server built
// without one, in tests) as the request reached it.
func (s *Server) publicURL(r *http.Request) string {
	if s.o.PublicURL != nil {
		return s.o.PublicURL()
	}
	scheme := "http"
	if r.TLS != nil || s.o.Secure {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// feed is the history as entries, for Atom and RSS alike.
type feed struct {
	title, base string
	id          string
	updated     time.Time
	entries     []feedEntry
}

// feedEntry is one entry. Its id never changes; whatever it shows
// (title, text) only changes with a later updated. Text is plain text.
type feedEntry struct {
	id, title, link, text string
	published, updated    time.Time
}

// historyFeed is the history as a feed: an entry per incident (dated when
// it started, updated when it last changed), per later update of one
// (dated when it was written, titled with its status alone, so that it
// never changes) and per announced maintenance (dated when it was
// announced, updated as it starts and ends). Ids are tag URIs of the
// host, so an entry keeps its id whatever else changes.
func historyFeed(p *HistoryPage, base, host string) *feed {
	title := p.Title
	if title == "" {
		title = "Status"
	}
	tag := func(what string) string { return "tag:" + host + ",2026:" + what }
	f := &feed{title: title, base: base, id: tag("history")}
	for _, m := range p.Months {
		for _, in := range m.Incidents {
			link := base + "/incidents/" + strconv.FormatInt(in.ID, 10)
			// The store keeps updates newest first; the last is the opening.
			for k, u := range in.Updates {
				n := len(in.Updates) - k
				if n == 1 {
					continue // the opening is the incident's own entry
				}
				f.entries = append(f.entries, feedEntry{id: tag(fmt.Sprintf("incident-%d-update-%d", in.ID, n)),
					title: fmt.Sprintf("%s: incident #%d", statusWord(u.Status), in.ID), link: link, text: u.Body, published: u.At, updated: u.At})
			}
			affected := in.Component
			if len(in.Components) > 0 {
				affected = strings.Join(in.Components, ", ")
			}
			text := fmt.Sprintf("%s: %s (impact %s)", affected, in.Title, in.Impact)
			if k := len(in.Updates); k > 0 {
				text = in.Updates[k-1].Body
			}
			updated := in.UpdatedAt
			if updated.Before(in.StartedAt) {
				updated = in.StartedAt
			}
			f.entries = append(f.entries, feedEntry{id: tag(fmt.Sprintf("incident-%d", in.ID)), title: in.Title, link: link, text: text,
				published: in.StartedAt, updated: updated})
		}
		for _, mw := range m.Maintenance {
			f.entries = append(f.entries, maintenanceEntry(mw, base, tag, p.GeneratedAt))
		}
	}
	for _, mw := range p.Ahead {
		f.entries = append(f.entries, maintenanceEntry(mw, base, tag, p.GeneratedAt))
	}
	slices.SortStableFunc(f.entries, func(a, b feedEntry) int { return b.updated.Compare(a.updated) })
	if len(f.entries) > 0 {
		f.updated = f.entries[0].updated
	} else {
		f.updated = p.GeneratedAt.Truncate(24 * time.Hour) // nothing yet: a date that does not move all day
	}
	return f
}

func statusWord(s string) string {
	if s == "" {
		return "Update"
	}
	return strings.ToUpper(s[:1]) + strings.ReplaceAll(s[1:], "_", " ")
}

// maintenanceEntry is an announced window: dated when it was announced,
// updated when its status last changed (it started, it ended).
func maintenanceEntry(mw Announced, base string, tag func(string) string, now time.Time) feedEntry {
	what := fmt.Sprintf("Scheduled maintenance from %s to %s", mw.Start.UTC().Format("2006-01-02 15:04 UTC"), mw.End.UTC().Format("2006-01-02 15:04 UTC"))
	if len(mw.Components) > 0 {
		what += "; affects " + strings.Join(mw.Components, ", ")
	}
	announced := mw.AnnouncedAt
	if announced.IsZero() || announced.After(mw.Start) {
		announced = mw.Start
		if now.Before(announced) {
			announced = now
		}
	}
	updated := announced
	switch mw.Status {
	case "in_progress":
		updated = mw.Start
	case "completed":
		updated = mw.End
	}
	return feedEntry{id: tag("maintenance-" + mw.ID), title: mw.Name + " (" + statusWord(mw.Status) + ")", link: base + "/maintenance/" + mw.ID,
		text: what, published: announced, updated: updated}
}

// atom writes the feed as Atom (RFC 4287): an author, a self link, text
// summaries.
func (f *feed) atom() ([]byte, error) {
	af := &feeds.AtomFeed{Xmlns: "http://www.w3.org/2005/Atom", Title: f.title + " history", Id: f.id, Updated: f.updated.UTC().Format(time.RFC3339),
		Subtitle: "Incidents, their updates and scheduled maintenance", Link: &feeds.AtomLink{Href: f.base + "/history.atom", Rel: "self", Type: "application/atom+xml"},
		Author: &feeds.AtomAuthor{AtomPerson: feeds.AtomPerson{Name: f.title, Uri: f.base + "/"}}}
	for _, e := range f.entries {
		af.Entries = append(af.Entries, &feeds.AtomEntry{Title: e.title, Id: e.id, Updated: e.updated.UTC().Format(time.RFC3339),
			Published: e.published.UTC().Format(time.RFC3339), Links: []feeds.AtomLink{{Href: e.link, Rel: "alternate", Type: "text/html"}},
			Summary: &feeds.AtomSummary{Content: e.text, Type: "text"}})
	}
	s, err := feeds.ToXML(af)
	return []byte(s), err
}

// rssDoc is RSS 2.0 with an atom:link to itself.
type rssDoc struct {
	XMLName xml.Name   `xml:"rss"`
	Version string     `xml:"version,attr"`
	Atom    string     `xml:"xmlns:atom,attr"`
	Channel rssChannel `xml:"channel"`
}

type rssChannel struct {
	Title         string    `xml:"title"`
	Link          string    `xml:"link"`
	Description   string    `xml:"description"`
	Self          rssSelf   `xml:"atom:link"`
	LastBuildDate string    `xml:"lastBuildDate"`
	Items         []rssItem `xml:"item"`
}

type rssSelf struct {
	Href string `xml:"href,attr"`
	Rel  string `xml:"rel,attr"`
	Type string `xml:"type,attr"`
}

type rssItem struct {
	Title       string  `xml:"title"`
	Link        string  `xml:"link"`
	Description string  `xml:"description"`
	GUID        rssGUID `xml:"guid"`
	PubDate     string  `xml:"pubDate"`
}

type rssGUID struct {
	ID          string `xml:",chardata"`
	IsPermaLink string `xml:"isPermaLink,attr"`
}

// rss writes the feed as RSS 2.0. A description is HTML by RSS's custom,
// so text is escaped into it; guids are tag URIs, not links.
func (f *feed) rss() ([]byte, error) {
	doc := rssDoc{Version: "2.0", Atom: "http://www.w3.org/2005/Atom", Channel: rssChannel{Title: f.title + " history", Link: f.base + "/",
		Description: "Incidents, their updates and scheduled maintenance", Self: rssSelf{Href: f.base + "/history.rss", Rel: "self", Type: "application/rss+xml"},
		LastBuildDate: f.updated.UTC().Format(time.RFC1123Z)}}
	for _, e := range f.entries {
		doc.Channel.Items = append(doc.Channel.Items, rssItem{Title: e.title, Link: e.link, Description: html.EscapeString(e.text),
			GUID: rssGUID{ID: e.id, IsPermaLink: "false"}, PubDate: e.updated.UTC().Format(time.RFC1123Z)})
	}
	b, err := xml.MarshalIndent(doc, "", "  ")
	return append([]byte(xml.Header), b...), err
}
