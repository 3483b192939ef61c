package pages

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/dashboard"
)

// Statuspage's public read API (v2): the same page, components, incidents
// and maintenance as the status page, in Statuspage's field names and
// values, so that existing widgets and clients read nines. Where nines
// knows more than the vocabulary says (no data yet), a field of its own
// says it beside the Statuspage one.

// V2Time is a time as Statuspage writes it: ISO 8601 in UTC with
// milliseconds (2026-12-04T18:04:57.008Z).
type V2Time struct{ time.Time }

// v2Layout is V2Time's form.
const v2Layout = "2006-01-02T15:04:05.000Z07:00"

// MarshalJSON writes t with milliseconds.
func (t V2Time) MarshalJSON() ([]byte, error) {
	return []byte(`"` + t.UTC().Format(v2Layout) + `"`), nil
}

// UnmarshalJSON reads any RFC 3339 time.
func (t *V2Time) UnmarshalJSON(b []byte) error { return t.Time.UnmarshalJSON(b) }

func v2t(t time.Time) V2Time { return V2Time{t.UTC()} }

func v2tp(t *time.Time) *V2Time {
	if t == nil {
		return nil
	}
	v := v2t(*t)
	return &v
}

// V2Page is the page object every v2 document carries.
type V2Page struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	URL       string `json:"url"`
	TimeZone  string `json:"time_zone"`
	UpdatedAt V2Time `json:"updated_at"`
}

// V2Status is the page's rollup.
type V2Status struct {
	Indicator   string `json:"indicator"` // none, minor, major, critical, maintenance
	Description string `json:"description"`
}

// V2Component is a component in Statuspage's shape.
type V2Component struct {
	ID                 string  `json:"id"`
	Name               string  `json:"name"`
	Status             string  `json:"status"`
	CreatedAt          V2Time  `json:"created_at"`
	UpdatedAt          V2Time  `json:"updated_at"`
	Position           int     `json:"position"`
	Description        *string `json:"description"`
	Showcase           bool    `json:"showcase"`
	StartDate          *string `json:"start_date"`
	GroupID            *string `json:"group_id"`
	PageID             string  `json:"page_id"`
	Group              bool    `json:"group"`
	OnlyShowIfDegraded bool    `json:"only_show_if_degraded"`
	// Components, of a group, are the ids of its components.
	Components []string `json:"components,omitempty"`
	// NinesStatus is nines' own word when Status cannot say it: no_data
	// (nothing known yet) shows as operational in Status.
	NinesStatus string `json:"nines_status,omitempty"`
}

// V2Affected is a component an incident update touched.
type V2Affected struct {
	Code      string `json:"code"`
	Name      string `json:"name"`
	OldStatus string `json:"old_status"`
	NewStatus string `json:"new_status"`
}

// V2Update is one entry of an incident's timeline.
type V2Update struct {
	ID                   string       `json:"id"`
	Status               string       `json:"status"`
	Body                 string       `json:"body"`
	IncidentID           string       `json:"incident_id"`
	CreatedAt            V2Time       `json:"created_at"`
	UpdatedAt            V2Time       `json:"updated_at"`
	DisplayAt            V2Time       `json:"display_at"`
	AffectedComponents   []V2Affected `json:"affected_components"`
	DeliverNotifications bool         `json:"deliver_notifications"`
	CustomTweet          *string      `json:"custom_tweet"`
	TweetID              *string      `json:"tweet_id"`
}

// V2Incident is an incident, or (with ScheduledFor) a scheduled
// maintenance, in Statuspage's shape.
type V2Incident struct {
	ID              string        `json:"id"`
	Name            string        `json:"name"`
	Status          string        `json:"status"`
	Impact          string        `json:"impact"`
	Shortlink       string        `json:"shortlink"`
	CreatedAt       V2Time        `json:"created_at"`
	UpdatedAt       V2Time        `json:"updated_at"`
	MonitoringAt    *V2Time       `json:"monitoring_at"`
	ResolvedAt      *V2Time       `json:"resolved_at"`
	StartedAt       V2Time        `json:"started_at"`
	PageID          string        `json:"page_id"`
	IncidentUpdates []V2Update    `json:"incident_updates"`
	Components      []V2Component `json:"components"`
	ScheduledFor    *V2Time       `json:"scheduled_for,omitempty"`
	ScheduledUntil  *V2Time       `json:"scheduled_until,omitempty"`
}

// V2Summary is /api/v2/summary.json.
type V2Summary struct {
	Page                  V2Page        `json:"page"`
	Status                V2Status      `json:"status"`
	Components            []V2Component `json:"components"`
	Incidents             []V2Incident  `json:"incidents"`
	ScheduledMaintenances []V2Incident  `json:"scheduled_maintenances"`
}

// v2Indicators maps the page's status to Statuspage's indicator and its
// description.
var v2Indicators = map[string]V2Status{
	dashboard.Operational:         {"none", "All Systems Operational"},
	dashboard.NoData:              {"none", "No Data Yet"},
	dashboard.DegradedPerformance: {"minor", "Minor Service Outage"},
	dashboard.PartialOutage:       {"major", "Partial System Outage"},
	dashboard.MajorOutage:         {"critical", "Major Service Outage"},
	dashboard.UnderMaintenance:    {"maintenance", "Service Under Maintenance"},
}

// v2 gathers what every v2 document is made of.
type v2 struct {
	page       V2Page
	status     V2Status
	components []V2Component
	byID       map[string]V2Component
	cfg        *config.Config
	now        time.Time
}

func (s *Source) v2(ctx context.Context, base string) (*v2, error) {
	o := s.o
	cfg := o.Config()
	st, err := o.Published(ctx)
	if err != nil {
		return nil, err
	}
	d := &v2{cfg: cfg, now: o.Now().UTC(), byID: map[string]V2Component{}}
	url := strings.TrimRight(cfg.Alerting.DashboardURL, "/")
	if url == "" {
		url = base
	}
	d.page = V2Page{ID: pageID(cfg), Name: pageName(cfg), URL: url, TimeZone: "Etc/UTC",
		UpdatedAt: v2t(st.GeneratedAt)}
	worst := dashboard.Operational
	groups := map[string]*V2Component{}
	for i, comp := range st.Components {
		conf := cfg.Component(comp.ID)
		if conf == nil {
			continue
		}
		status := publishedStatus(&comp)
		if b := bannerStatus(conf, status); statusRank[b] > statusRank[worst] {
			worst = b
		}
		c := V2Component{ID: comp.ID, Name: comp.Name, Status: status, CreatedAt: v2t(st.GeneratedAt), UpdatedAt: v2t(st.GeneratedAt),
			Position: i + 1, PageID: d.page.ID}
		if gid := conf.GroupID(); gid != "" {
			c.GroupID = &gid
			g := groups[gid]
			if g == nil {
				g = &V2Component{ID: gid, Name: conf.Group, Status: dashboard.Operational, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
					Position: len(st.Components) + len(groups) + 1, PageID: d.page.ID, Group: true, Components: []string{}}
				groups[gid] = g
			}
			g.Components = append(g.Components, comp.ID)
			if statusRank[status] > statusRank[g.Status] && status != dashboard.NoData {
				g.Status = status
			}
		}
		if conf.Description != "" {
			desc := conf.Description
			c.Description = &desc
		}
		if status == dashboard.NoData {
			c.Status, c.NinesStatus = dashboard.Operational, dashboard.NoData
		}
		d.components = append(d.components, c)
		d.byID[c.ID] = c
	}
	for _, g := range groups {
		d.components = append(d.components, *g)
		d.byID[g.ID] = *g
	}
	slices.SortStableFunc(d.components, func(a, b V2Component) int { return a.Position - b.Position })
	if d.components == nil {
		d.components = []V2Component{}
	}
	d.status = v2Indicators[worst]
	return d, nil
}

// pageID names the page: its dashboard URL's host, or nines.
func pageID(cfg *config.Config) string {
	if h := strings.TrimPrefix(strings.TrimPrefix(cfg.Alerting.DashboardURL, "https://"), "http://"); h != "" {
		return strings.TrimRight(h, "/")
	}
	return "nines"
}

func pageName(cfg *config.Config) string {
	if cfg.Dashboard.Title != "" {
		return cfg.Dashboard.Title
	}
	return "nines"
}

// incident converts a status page incident: each update with the
// components it touched as they were then.
func (d *v2) incident(in store.Incident) V2Incident {
	id := strconv.FormatInt(in.ID, 10)
	v := V2Incident{ID: id, Name: in.Title, Status: in.Status, Impact: in.Impact, Shortlink: d.page.URL + IncidentPath(in.ID),
		CreatedAt: v2t(in.StartedAt), UpdatedAt: v2t(in.UpdatedAt), StartedAt: v2t(in.StartedAt), ResolvedAt: v2tp(in.ResolvedAt),
		PageID: d.page.ID, IncidentUpdates: []V2Update{}, Components: []V2Component{}}
	for _, id := range in.Components {
		if comp, known := d.byID[id]; known {
			v.Components = append(v.Components, comp)
		}
	}
	// Newest first, as the store keeps them and Statuspage lists them.
	for k, u := range in.Updates {
		upd := d.update(id, len(in.Updates)-k, u.Status, u.Body, u.At)
		for _, c := range u.Affected {
			upd.AffectedComponents = append(upd.AffectedComponents, V2Affected{Code: c.Component, Name: componentName(d.cfg, c.Component),
				OldStatus: c.Old, NewStatus: c.New})
		}
		v.IncidentUpdates = append(v.IncidentUpdates, upd)
		if u.At.After(v.UpdatedAt.Time) {
			v.UpdatedAt = v2t(u.At)
		}
		if u.Status == "monitoring" {
			at := v2t(u.At)
			v.MonitoringAt = &at // the earliest, as the loop goes back in time
		}
	}
	return v
}

// update is the n-th (from 1) update of incident id.
func (d *v2) update(id string, n int, status, body string, at time.Time) V2Update {
	return V2Update{ID: id + "-" + strconv.Itoa(n), Status: status, Body: body, IncidentID: id, CreatedAt: v2t(at), UpdatedAt: v2t(at),
		DisplayAt: v2t(at), AffectedComponents: []V2Affected{}, DeliverNotifications: true}
}

// IncidentPath is where an incident's own page is.
func IncidentPath(id int64) string { return "/incidents/" + strconv.FormatInt(id, 10) }

// maintenances are the announced maintenance windows' occurrences in
// progress or ahead (within 30 days), soonest first, each with its
// lifecycle so far: scheduled when it was announced, in progress from
// its start.
func (s *Source) maintenances(ctx context.Context, d *v2, upcoming, active bool) ([]V2Incident, error) {
	ws := announced(d.cfg, d.now, d.now.Add(30*24*time.Hour), d.now)
	if err := s.withAnnouncement(ctx, ws, d.now, false); err != nil {
		return nil, err
	}
	out := []V2Incident{}
	for _, w := range ws {
		if (w.Status == "scheduled" && !upcoming) || (w.Status == "in_progress" && !active) || w.Status == "completed" {
			continue
		}
		out = append(out, d.maintenance(w))
	}
	return out, nil
}

// maintenance converts an announced window's occurrence.
func (d *v2) maintenance(w window) V2Incident {
	start, end := v2t(w.Start), v2t(w.End)
	v := V2Incident{ID: w.ID, Name: w.Name, Status: w.Status, Impact: "maintenance", Shortlink: d.page.URL + MaintenancePath(w.ID),
		CreatedAt: v2t(w.AnnouncedAt), StartedAt: start, PageID: d.page.ID, ScheduledFor: &start, ScheduledUntil: &end,
		IncidentUpdates: []V2Update{}, Components: []V2Component{}}
	for _, id := range w.componentIDs {
		if c, ok := d.byID[id]; ok {
			v.Components = append(v.Components, c)
		}
	}
	ups := lifecycle(w.Announced, d.now)
	for k, u := range ups {
		upd := d.update(w.ID, len(ups)-k, u.Status, u.Body, u.At)
		for _, c := range v.Components {
			if u.Status == "scheduled" {
				break // announced: no component changed
			}
			old, now := dashboard.Operational, dashboard.UnderMaintenance
			if u.Status == "completed" {
				old, now = dashboard.UnderMaintenance, dashboard.Operational
			}
			upd.AffectedComponents = append(upd.AffectedComponents, V2Affected{Code: c.ID, Name: c.Name, OldStatus: old, NewStatus: now})
		}
		v.IncidentUpdates = append(v.IncidentUpdates, upd)
	}
	v.UpdatedAt = v2t(ups[0].At)
	if w.Status == "completed" {
		v.ResolvedAt = &end
	}
	return v
}

// The V2 documents take base, the page's address as the request reached
// it, for when the configuration does not say it (alerting.dashboard_url).

// V2Status is /api/v2/status.json.
func (s *Source) V2Status(ctx context.Context, base string) (any, error) {
	d, err := s.v2(ctx, base)
	if err != nil {
		return nil, err
	}
	return map[string]any{"page": d.page, "status": d.status}, nil
}

// V2Components is /api/v2/components.json.
func (s *Source) V2Components(ctx context.Context, base string) (any, error) {
	d, err := s.v2(ctx, base)
	if err != nil {
		return nil, err
	}
	return map[string]any{"page": d.page, "components": d.components}, nil
}

// V2Incidents is /api/v2/incidents.json (the last 50, newest first), or
// with unresolved /api/v2/incidents/unresolved.json.
func (s *Source) V2Incidents(ctx context.Context, base string, unresolved bool) (any, error) {
	d, err := s.v2(ctx, base)
	if err != nil {
		return nil, err
	}
	incs, err := s.v2Incidents(ctx, d, unresolved)
	if err != nil {
		return nil, err
	}
	return map[string]any{"page": d.page, "incidents": incs}, nil
}

func (s *Source) v2Incidents(ctx context.Context, d *v2, unresolved bool) ([]V2Incident, error) {
	incs, err := s.o.Store.Incidents(ctx, d.now.Add(-90*24*time.Hour), 100)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(incs, func(a, b store.Incident) int { return b.StartedAt.Compare(a.StartedAt) })
	out := []V2Incident{}
	for _, in := range incs {
		if unresolved && in.ResolvedAt != nil {
			continue
		}
		if len(out) == 50 {
			break
		}
		out = append(out, d.incident(in))
	}
	return out, nil
}

// V2Maintenances is /api/v2/scheduled-maintenances.json, or only the
// upcoming or the active ones.
func (s *Source) V2Maintenances(ctx context.Context, base string, upcoming, active bool) (any, error) {
	d, err := s.v2(ctx, base)
	if err != nil {
		return nil, err
	}
	ms, err := s.maintenances(ctx, d, upcoming, active)
	if err != nil {
		return nil, err
	}
	return map[string]any{"page": d.page, "scheduled_maintenances": ms}, nil
}

// V2Summary is /api/v2/summary.json: the page, its status, every
// component, the unresolved incidents, and the maintenance ahead and in
// progress.
func (s *Source) V2Summary(ctx context.Context, base string) (*V2Summary, error) {
	d, err := s.v2(ctx, base)
	if err != nil {
		return nil, err
	}
	incs, err := s.v2Incidents(ctx, d, true)
	if err != nil {
		return nil, err
	}
	ms, err := s.maintenances(ctx, d, true, true)
	if err != nil {
		return nil, err
	}
	return &V2Summary{Page: d.page, Status: d.status, Components: d.components, Incidents: incs, ScheduledMaintenances: ms}, nil
}

// v2Paths are the v2 documents, under /api/v2/.
var v2Paths = []string{"summary.json", "status.json", "components.json", "incidents.json", "incidents/unresolved.json",
	"scheduled-maintenances.json", "scheduled-maintenances/upcoming.json", "scheduled-maintenances/active.json"}

// v2Document builds the v2 document at path for the page at base.
func (s *Source) v2Document(ctx context.Context, path, base string) (any, error) {
	switch path {
	case "summary.json":
		return s.V2Summary(ctx, base)
	case "status.json":
		return s.V2Status(ctx, base)
	case "components.json":
		return s.V2Components(ctx, base)
	case "incidents.json":
		return s.V2Incidents(ctx, base, false)
	case "incidents/unresolved.json":
		return s.V2Incidents(ctx, base, true)
	case "scheduled-maintenances.json":
		return s.V2Maintenances(ctx, base, true, true)
	case "scheduled-maintenances/upcoming.json":
		return s.V2Maintenances(ctx, base, true, false)
	case "scheduled-maintenances/active.json":
		return s.V2Maintenances(ctx, base, false, true)
	}
	return nil, fmt.Errorf("no v2 document %s", path)
}

// V2 serves the v2 documents under /api/v2/, as published, with links to
// the page's own address.
func (s *Source) V2(w http.ResponseWriter, r *http.Request) {
	cfg := s.o.Config()
	base := "http://" + r.Host
	if s.o.PublicURL != nil {
		base = s.o.PublicURL()
	}
	docs := s.v2docs[strings.TrimPrefix(r.URL.Path, "/api/v2/")]
	if docs == nil {
		http.Error(w, `{"error":"no such document"}`, http.StatusNotFound)
		return
	}
	e, err := docs.Get(r.Context(), base)
	if err != nil {
		http.Error(w, `{"error":"unavailable; retry"}`, http.StatusInternalServerError)
		return
	}
	cacheControl := "public, max-age=10"
	if cfg.API.Private {
		cacheControl = "private, no-cache"
	} else {
		w.Header().Set("Access-Control-Allow-Origin", "*") // widgets on other sites read it
	}
	e.Serve(w, r, cacheControl)
}
