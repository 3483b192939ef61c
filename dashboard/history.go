package dashboard

import (
	"context"
	"fmt"
	"html"
	"net/http"
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
	switch {
	case err != nil:
		s.o.Logger.Error("incident page", "incident", id, "err", err)
		http.Error(w, "incident unavailable", http.StatusInternalServerError)
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
	e, err := s.feeds[format].Get(r.Context(), s.baseURL(r))
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
	host := strings.TrimPrefix(strings.TrimPrefix(base, "https://"), "http://")
	f := historyFeed(p, base, host, format == "atom")
	var out string
	if format == "atom" {
		out, err = f.ToAtom()
	} else {
		out, err = f.ToRss()
	}
	return struct{}{}, []byte(out), err
}

// baseURL is the page's own address as the request reached it.
func (s *Server) baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || s.o.Secure {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// historyFeed is the history as a feed. The Atom feed links to itself
// (rel="self"); the RSS channel to the status page. Ids are tag URIs of
// the host, so an entry keeps its id whatever else changes.
func historyFeed(p *HistoryPage, base, host string, atom bool) *feeds.Feed {
	title := p.Title
	if title == "" {
		title = "Status"
	}
	f := &feeds.Feed{Title: title + " history", Description: "Incidents, their updates and scheduled maintenance",
		Id: "tag:" + host + ",2026:history", Updated: p.GeneratedAt, Link: &feeds.Link{Href: base + "/"}}
	if atom {
		f.Link = &feeds.Link{Href: base + "/history.atom", Rel: "self"}
	}
	tag := func(what string) string { return "tag:" + host + ",2026:" + what }
	for _, m := range p.Months {
		for _, in := range m.Incidents {
			link := base + "/incidents/" + strconv.FormatInt(in.ID, 10)
			updated := in.StartedAt
			// The store keeps updates newest first; the first is the opening.
			for k, u := range in.Updates {
				n := len(in.Updates) - k
				if u.At.After(updated) {
					updated = u.At
				}
				if n == 1 {
					continue // the opening is the incident's own entry
				}
				f.Items = append(f.Items, &feeds.Item{Title: in.Title + ": " + u.Status, Link: &feeds.Link{Href: link},
					Id: tag(fmt.Sprintf("incident-%d-update-%d", in.ID, n)), Created: u.At, Updated: u.At,
					Description: u.Body, Content: "<p>" + html.EscapeString(u.Body) + "</p>"})
			}
			affected := in.Component
			if len(in.Components) > 0 {
				affected = strings.Join(in.Components, ", ")
			}
			body := fmt.Sprintf("%s: %s (impact %s)", affected, in.Title, in.Impact)
			if k := len(in.Updates); k > 0 {
				body = in.Updates[k-1].Body
			}
			f.Items = append(f.Items, &feeds.Item{Title: in.Title, Link: &feeds.Link{Href: link}, Id: tag(fmt.Sprintf("incident-%d", in.ID)),
				Created: in.StartedAt, Updated: in.StartedAt, Description: body, Content: "<p>" + html.EscapeString(body) + "</p>"})
		}
		for _, mw := range m.Maintenance {
			f.Items = append(f.Items, maintenanceItem(mw, base, tag))
		}
	}
	for _, mw := range p.Ahead {
		f.Items = append(f.Items, maintenanceItem(mw, base, tag))
	}
	slices.SortStableFunc(f.Items, func(a, b *feeds.Item) int { return b.Updated.Compare(a.Updated) })
	return f
}

func maintenanceItem(mw Announced, base string, tag func(string) string) *feeds.Item {
	what := fmt.Sprintf("Scheduled maintenance from %s to %s", mw.Start.UTC().Format("2006-01-02 15:04 UTC"), mw.End.UTC().Format("2006-01-02 15:04 UTC"))
	if len(mw.Components) > 0 {
		what += "; affects " + strings.Join(mw.Components, ", ")
	}
	// Announced ahead: dated when it was first shown, a week before, or now.
	at := mw.Start.Add(-7 * 24 * time.Hour)
	return &feeds.Item{Title: mw.Name + " (" + mw.Status + ")", Link: &feeds.Link{Href: base + "/#maintenance-" + mw.ID},
		Id: tag("maintenance-" + mw.ID), Created: at, Updated: at, Description: what, Content: "<p>" + html.EscapeString(what) + "</p>"}
}
