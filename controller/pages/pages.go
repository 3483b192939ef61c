// Package pages gives the dashboard its pages (the public status page, the
// SRE view, check and alert pages, badges) from the live verdicts, the
// ledger and the store; it keeps the status page's incidents in step with
// the alerts and exports the static page.
package pages

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/nines-sre/nines/alerting"
	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/ledger"
	"github.com/nines-sre/nines/controller/live"
	"github.com/nines-sre/nines/controller/sla"
	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/dashboard"
	"github.com/nines-sre/nines/internal/snapshot"
	"github.com/nines-sre/nines/model"
)

// Store is what the pages read, and where incidents are kept.
type Store interface {
	History(ctx context.Context, checks []string, span int, from, to sla.Minute) (map[string][]store.Bucket, error)
	Counts(ctx context.Context, checks []string, from, to sla.Minute) (map[string]sla.Counts, error)
	Results(ctx context.Context, q store.Query) ([]model.Result, error)
	Outcomes(ctx context.Context, check string, from, to time.Time) ([]store.Outcome, error)
	Alert(ctx context.Context, key string) (*alerting.Alert, error)
	RecentAlerts(ctx context.Context, since time.Time) ([]alerting.Alert, error)
	AlertNotifications(ctx context.Context, key string) ([]store.NotificationHistory, error)
	Incidents(ctx context.Context, since time.Time, limit int) ([]store.Incident, error)
	IncidentByID(ctx context.Context, id int64) (*store.Incident, error)
	Subscribers(ctx context.Context) ([]store.Subscriber, error)
	EnqueueNotifications(ctx context.Context, key string, notes []alerting.Notification) (int, error)
	OpenIncident(ctx context.Context, o store.IncidentOpening) (int64, bool, error)
	ReviseIncident(ctx context.Context, id int64, r store.IncidentRevision) (bool, error)
	IncidentForAlert(ctx context.Context, alertKey string, alertSeq int64) (id int64, open bool, err error)
	AddIncidentUpdate(ctx context.Context, id int64, u store.IncidentUpdate) error
	Announce(ctx context.Context, ids []string, at time.Time) (map[string]time.Time, error)
	Screenshots(ctx context.Context, check string) ([]store.Screenshot, error)
	ScreenshotImage(ctx context.Context, check, region string, scheduled time.Time) ([]byte, error)
}

// Options configure the pages.
type Options struct {
	Store  Store
	Config func() *config.Config
	Now    func() time.Time
	Live   live.View
	Ledger *ledger.Ledger
	// Published is the status document as published: the status page shows
	// the verdicts the API serves. Status is the document computed now.
	Published func(ctx context.Context) (*live.StatusResponse, error)
	Status    func() live.StatusResponse
	// Acknowledge acknowledges an alert; Changed says that what the public
	// documents show changed (an incident opened, updated or closed).
	Acknowledge func(ctx context.Context, key, by string) error
	Changed     func()
	// Publish says when the v2 documents are rendered again.
	Publish snapshot.Options
	// PublicURL is the status page's own address, for links (never a
	// request's Host header).
	PublicURL func() string
	// Kept is how long raw results are kept, for check pages whose range
	// reaches past it.
	Kept time.Duration
}

// Source gives the dashboard its pages.
type Source struct {
	o      Options
	told   told                               // the status page events queued for subscribers
	synced written                            // what each open incident was last written with
	before before                             // each component's status before its current one
	v2docs map[string]*snapshot.Set[struct{}] // by path, then by the address the page is reached at
}

var _ dashboard.Source = (*Source)(nil)

// New returns the pages.
func New(o Options) *Source {
	s := &Source{o: o, v2docs: map[string]*snapshot.Set[struct{}]{}}
	for _, path := range v2Paths {
		s.v2docs[path] = snapshot.NewSet("application/json", o.Publish, dashboard.MaxAddresses, func(ctx context.Context, base string) (struct{}, []byte, error) {
			v, err := s.v2Document(ctx, path, base)
			if err != nil {
				return struct{}{}, nil, err
			}
			b, err := json.Marshal(v)
			return struct{}{}, append(b, '\n'), err
		})
	}
	return s
}

// publishedStatus is a component's status in Statuspage's words, from
// its checks' verdicts in the status document.
func publishedStatus(comp *live.ComponentStatus) string {
	statuses := make([]model.Status, 0, len(comp.Checks))
	for _, ch := range comp.Checks {
		statuses = append(statuses, ch.Status)
	}
	return componentStatus(statuses)
}

// componentStatus maps check verdicts to Statuspage's vocabulary: an
// outage when checks not in maintenance are down (major when all of them
// are), under maintenance when a check is in a maintenance window and none
// is down, degraded performance when one is degraded.
func componentStatus(statuses []model.Status) string {
	down, degraded, known, maint := 0, 0, 0, 0
	for _, s := range statuses {
		switch s {
		case model.StatusDown:
			down++
			known++
		case model.StatusDegraded:
			degraded++
			known++
		case model.StatusUp:
			known++
		case model.StatusMaintenance:
			maint++
		}
	}
	switch {
	case down > 0 && down == len(statuses)-maint:
		return dashboard.MajorOutage
	case down > 0:
		return dashboard.PartialOutage
	case maint > 0:
		return dashboard.UnderMaintenance
	case degraded > 0:
		return dashboard.DegradedPerformance
	case known == 0:
		return dashboard.NoData
	}
	return dashboard.Operational
}

var statusRank = map[string]int{dashboard.Operational: 0, dashboard.NoData: 1, dashboard.UnderMaintenance: 2,
	dashboard.DegradedPerformance: 3, dashboard.PartialOutage: 4, dashboard.MajorOutage: 5}

func (s *Source) StatusPage(ctx context.Context) (*dashboard.StatusPage, error) {
	o := s.o
	cfg := o.Config()
	now := o.Now()
	// The page shows the published status document's verdicts (as
	// published, at most one build behind the API's): the page and the
	// API say the same.
	st, err := o.Published(ctx)
	if err != nil {
		return nil, err
	}
	p := &dashboard.StatusPage{Title: cfg.Dashboard.Title, GeneratedAt: now.UTC(), Status: dashboard.Operational,
		Components: []dashboard.Component{}, Incidents: []dashboard.Incident{}}
	for _, r := range st.Regions {
		p.Regions = append(p.Regions, dashboard.Region{ID: r.ID, Name: r.Name, Healthy: r.Healthy})
	}
	today := sla.MinuteOf(now) / sla.SpanDay * sla.SpanDay
	from := today - 89*sla.SpanDay
	hist, err := o.Store.History(ctx, nil, sla.SpanDay, from, today+sla.SpanDay)
	if err != nil {
		return nil, err
	}
	for _, comp := range st.Components {
		// The document may be of the configuration before a reload.
		conf := cfg.Component(comp.ID)
		if conf == nil {
			continue
		}
		cc := dashboard.Component{ID: comp.ID, Name: comp.Name, Description: conf.Description, Group: conf.Group, GroupID: conf.GroupID()}
		cc.Status = publishedStatus(&comp)
		// The component's own minutes: one down minute however many of its
		// checks were down in it.
		days := make([]sla.Counts, 90)
		for _, b := range hist[ledger.ComponentSeries(conf)] {
			if k := int((sla.MinuteOf(b.Start) - from) / sla.SpanDay); k >= 0 && k < 90 {
				days[k] = b.Counts
			}
		}
		var all sla.Counts
		for k, n := range days {
			day := dashboard.Day{Date: (from + sla.Minute(k)*sla.SpanDay).Time(), Down: n.Bad, Degraded: n.Degraded, Maintenance: n.Maintenance}
			if n.Valid() > 0 {
				u := float64(n.Good) / float64(n.Valid())
				day.Uptime = &u
			}
			all.Good += n.Good
			all.Bad += n.Bad
			cc.Days = append(cc.Days, day)
		}
		if all.Valid() > 0 {
			u := float64(all.Good) / float64(all.Valid())
			cc.Uptime90 = &u
		}
		// The region matrix: the worst of what each region says of the
		// component's checks, as the status API says it.
		// A region none of them runs in (heartbeat checks report in to
		// the controller) has no say.
		for _, r := range st.Regions {
			regional := make([]model.Status, 0, len(comp.Checks))
			for _, ch := range comp.Checks {
				if rv, ok := ch.Regions[r.ID]; ok {
					regional = append(regional, rv.Status)
				}
			}
			cell := dashboard.Cell{Region: r.ID}
			if len(regional) > 0 {
				cell.Status = string(live.Worst(regional))
			}
			cc.Cells = append(cc.Cells, cell)
		}
		if b := bannerStatus(conf, cc.Status); statusRank[b] > statusRank[p.Status] {
			p.Status = b
		}
		p.Components = append(p.Components, cc)
	}
	p.Components = grouped(p.Components)
	p.Subscribe = Form(cfg)
	for _, w := range announced(cfg, now, now.Add(30*24*time.Hour), now) {
		p.Announced = append(p.Announced, w.Announced)
	}
	incs, err := o.Store.Incidents(ctx, now.Add(-14*24*time.Hour), 100)
	if err != nil {
		return nil, err
	}
	p.Incidents = convertIncidents(incs)
	return p, nil
}

// bannerStatus is what a component's status says of the whole page
// (config.Component.Banner), in Statuspage's words.
func bannerStatus(conf *config.Component, status string) string {
	switch conf.Banner {
	case config.BannerDegraded:
		if statusRank[status] > statusRank[dashboard.DegradedPerformance] && status != dashboard.UnderMaintenance {
			return dashboard.DegradedPerformance
		}
	case config.BannerNone:
		if status == dashboard.DegradedPerformance || status == dashboard.PartialOutage || status == dashboard.MajorOutage {
			return dashboard.Operational
		}
	}
	return status
}

// grouped orders components so that a group's are together, where its
// first one is, and gives each the status of its group: the worst of
// its components'.
func grouped(cs []dashboard.Component) []dashboard.Component {
	worst := map[string]string{}
	for _, c := range cs {
		if c.GroupID != "" && statusRank[c.Status] >= statusRank[worst[c.GroupID]] {
			worst[c.GroupID] = c.Status
		}
	}
	out := make([]dashboard.Component, 0, len(cs))
	placed := map[string]bool{}
	for _, c := range cs {
		if c.GroupID == "" {
			out = append(out, c)
			continue
		}
		if placed[c.GroupID] {
			continue
		}
		placed[c.GroupID] = true
		for _, m := range cs {
			if m.GroupID == c.GroupID {
				m.GroupStatus = worst[c.GroupID]
				out = append(out, m)
			}
		}
	}
	return out
}

func convertIncidents(in []store.Incident) []dashboard.Incident {
	out := []dashboard.Incident{}
	for _, i := range in {
		di := dashboard.Incident{ID: i.ID, Component: i.Component, Components: i.Components, EditedBy: i.EditedBy, Title: i.Title, Status: i.Status,
			Impact: i.Impact, StartedAt: i.StartedAt, UpdatedAt: i.UpdatedAt, ResolvedAt: i.ResolvedAt}
		for _, u := range i.Updates {
			di.Updates = append(di.Updates, dashboard.IncidentUpdate{At: u.At, Status: u.Status, Body: u.Body, Author: u.Author})
		}
		out = append(out, di)
	}
	return out
}

func (s *Source) SREPage(ctx context.Context) (*dashboard.SREPage, error) {
	o := s.o
	cfg := o.Config()
	now := o.Now()
	p := &dashboard.SREPage{}
	alerts, err := o.Store.RecentAlerts(ctx, now.Add(-24*time.Hour))
	if err != nil {
		return nil, err
	}
	for i := range cfg.SLOs {
		r, err := o.Ledger.SLOReport(ctx, &cfg.SLOs[i], now)
		if err != nil {
			return nil, err
		}
		s := dashboard.SLO{ID: r.ID, Name: r.Name, SLI: r.Value, Target: r.Target, Unit: r.ErrorBudget.Unit, Total: r.ErrorBudget.Total,
			Remaining: r.ErrorBudget.Remaining, RemainingRatio: r.ErrorBudget.RemainingRatio, ExhaustedAt: r.ExhaustedAt,
			ExhaustedSince: r.ExhaustedSince}
		for _, w := range sla.BurnWindows {
			s.Burn = append(s.Burn, dashboard.Burn{Window: w.Name, Rate: r.BurnRates[w.Name]})
		}
		if slo := &cfg.SLOs[i]; slo.SLI == config.SLIEvents {
			s.RealUsers = &dashboard.RealUsers{Source: slo.Events.Kind(), Newest: r.NewestCounts}
			if r.Events != nil {
				s.RealUsers.Good, s.RealUsers.Valid = r.Events.Good, r.Events.Total
			}
			if r.Recent != nil {
				s.RealUsers.Recent = &dashboard.Counted{Good: r.Recent.Good, Valid: r.Recent.Total}
			}
			for _, a := range alerts {
				if a.Class == "disagreement" && a.Subject == slo.ID && (a.State == alerting.StateFiring || a.State == alerting.StatePending || a.State == alerting.StateAcknowledged) {
					s.RealUsers.Disagreement = string(a.State) + ": " + a.Summary
				}
			}
			for _, id := range slo.Checks {
				if ch := cfg.Check(id); ch != nil {
					s.RealUsers.Beside = append(s.RealUsers.Beside, dashboard.CheckRow{ID: id, Component: cfg.ComponentOf(id),
						Status: string(o.Live.Verdict(cfg, ch, now).Status)})
				}
			}
		}
		p.SLOs = append(p.SLOs, s)
	}
	order := map[alerting.State]int{alerting.StateFiring: 0, alerting.StateAcknowledged: 1, alerting.StatePending: 2, alerting.StateResolved: 3}
	sort.SliceStable(alerts, func(i, j int) bool { return order[alerts[i].State] < order[alerts[j].State] })
	for i := range alerts {
		p.Alerts = append(p.Alerts, dashboardAlert(&alerts[i]))
	}
	st := o.Status()
	for _, pr := range st.Probes {
		p.Probes = append(p.Probes, dashboard.Probe{Region: pr.Region, ID: pr.ProbeID, Healthy: pr.Healthy, LastHeartbeat: pr.LastHeartbeatAt, SpoolDepth: pr.SpoolDepth})
	}
	for i := range cfg.Maintenance {
		mw := &cfg.Maintenance[i]
		for _, o := range mw.Occurrences(now.Add(-24*time.Hour), now.Add(7*24*time.Hour)) {
			p.Maintenance = append(p.Maintenance, dashboard.Maintenance{ID: mw.ID, Reason: mw.Reason, Start: o.Start, End: o.End, Checks: cfg.MaintenanceChecks(mw)})
		}
	}
	for _, comp := range st.Components {
		for _, ch := range comp.Checks {
			p.Checks = append(p.Checks, dashboard.CheckRow{ID: ch.ID, Component: comp.ID, Status: string(ch.Status)})
		}
	}
	incs, err := o.Store.Incidents(ctx, now.Add(-7*24*time.Hour), 100)
	if err != nil {
		return nil, err
	}
	p.Incidents = convertIncidents(incs)
	return p, nil
}

// maxCheckResults bounds the raw results one check page reads.
const maxCheckResults = 200_000

// CheckPage is a check over a range (1h by default … 90d): uptime per
// region, latency percentiles of up runs with the failed runs marked, and
// the raw results a page at a time, newest first.
func (s *Source) CheckPage(ctx context.Context, id string, q dashboard.CheckQuery) (*dashboard.CheckPage, error) {
	o := s.o
	cfg := o.Config()
	ch := cfg.Check(id)
	if ch == nil {
		return nil, fmt.Errorf("no check %q", id)
	}
	rng := dashboard.CheckRanges[1] // 24h
	for _, r := range dashboard.CheckRanges {
		if r.Name == q.Range {
			rng = r
		}
	}
	now := o.Now()
	p := &dashboard.CheckPage{ID: ch.ID, Name: ch.Name, Status: string(o.Live.Verdict(cfg, ch, now).Status), Range: rng.Name,
		Results: []dashboard.Result{}, Latency: []dashboard.RegionLatency{}, Uptime: []dashboard.RegionUptime{}}
	if o.Kept > 0 && rng.Span > o.Kept {
		p.Kept = o.Kept.Round(time.Hour).String()
		if o.Kept%(24*time.Hour) == 0 {
			p.Kept = fmt.Sprintf("%d days", o.Kept/(24*time.Hour))
		}
	}
	// A page of raw results, newest first, older than the cursor.
	page := store.Query{Check: id, Limit: 100, Newest: true}
	if q.Before != "" {
		c, err := store.ParseCursor(q.Before)
		if err != nil {
			return nil, err
		}
		page.After = c
	}
	rs, err := o.Store.Results(ctx, page)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	var blips map[store.Cursor]bool
	if len(rs) > 0 {
		if blips, err = s.blips(ctx, id, rs[len(rs)-1].Scheduled, rs[0].Scheduled); err != nil {
			return nil, err
		}
	}
	for _, r := range rs {
		p.Results = append(p.Results, dashboard.Result{At: r.Scheduled, Region: r.Region, Outcome: string(r.Outcome), Class: string(r.ErrorClass),
			LatencyMS: float64(r.DurationUS) / 1000, Message: r.Message, OnDemand: r.OnDemand,
			NotConfirmed: blips[store.Cursor{Scheduled: r.Scheduled, Region: r.Region}]})
	}
	if len(rs) == page.Limit {
		last := rs[len(rs)-1]
		p.Older = store.Cursor{Scheduled: last.Scheduled, Region: last.Region}.String()
	}
	if model.Kind(ch.Kind) == model.KindBrowser {
		shots, err := o.Store.Screenshots(ctx, id)
		if err != nil {
			return nil, err
		}
		for _, sh := range shots {
			p.Screenshots = append(p.Screenshots, dashboard.Screenshot{At: sh.Scheduled, Region: sh.Region, Message: sh.Message})
		}
	}
	// The range, by region and bucket.
	rs, err = o.Store.Results(ctx, store.Query{Check: id, Since: now.Add(-rng.Span), Limit: maxCheckResults})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	type bucket struct {
		up       []float64
		failed   int
		failedMS float64
	}
	// Points as wide as the range asks, or narrower when the results
	// cover less of it (a new install): the chart spans the data.
	width := rng.Bucket
	if len(rs) > 0 {
		first, last := rs[0].Scheduled, rs[0].Scheduled
		for _, r := range rs {
			first, last = sla.Earliest(first, r.Scheduled), sla.Latest(last, r.Scheduled)
		}
		for _, r := range dashboard.CheckRanges {
			if last.Sub(first) <= r.Span {
				width = min(width, r.Bucket)
				break
			}
		}
	}
	byRegion := map[string]map[time.Time]*bucket{}
	total, up := map[string]int{}, map[string]int{}
	for _, r := range rs {
		if byRegion[r.Region] == nil {
			byRegion[r.Region] = map[time.Time]*bucket{}
		}
		at := r.Scheduled.Truncate(width)
		b := byRegion[r.Region][at]
		if b == nil {
			b = &bucket{}
			byRegion[r.Region][at] = b
		}
		ms := float64(r.DurationUS) / 1000
		total[r.Region]++
		if r.Outcome == model.OutcomeDown {
			b.failed++
			b.failedMS = max(b.failedMS, ms)
			continue
		}
		up[r.Region]++
		b.up = append(b.up, ms)
	}
	for _, region := range cfg.CheckRegions(ch) {
		u := dashboard.RegionUptime{Region: region, Results: total[region]}
		if total[region] > 0 {
			v := float64(up[region]) / float64(total[region])
			u.Uptime = &v
		}
		p.Uptime = append(p.Uptime, u)
		buckets := byRegion[region]
		if len(buckets) == 0 {
			continue
		}
		rl := dashboard.RegionLatency{Region: region}
		for _, at := range slices.SortedFunc(maps.Keys(buckets), time.Time.Compare) {
			b := buckets[at]
			pt := dashboard.Percentile{At: at, Up: len(b.up), Failed: b.failed, FailedMS: b.failedMS}
			if len(b.up) > 0 {
				slices.Sort(b.up)
				pt.P50, pt.P95, pt.P99 = quantile(b.up, 0.5), quantile(b.up, 0.95), quantile(b.up, 0.99)
			}
			rl.Points = append(rl.Points, pt)
		}
		p.Latency = append(p.Latency, rl)
	}
	if model.Kind(ch.Kind) == model.KindBrowser {
		p.Vitals = vitals(rs, cfg.CheckRegions(ch), width)
	}
	return p, nil
}

// quantile of sorted values, nearest rank.
func quantile(sorted []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func (s *Source) Badge(ctx context.Context, check string) (*float64, string, bool) {
	o := s.o
	cfg := o.Config()
	ch := cfg.Check(check)
	if ch == nil || !cfg.Component(cfg.ComponentOf(check)).IsPublic() {
		return nil, "", false
	}
	now := o.Now()
	to := sla.MinuteOf(now)
	counts, err := o.Store.Counts(ctx, []string{check}, to-30*sla.SpanDay, to)
	var up *float64
	if n := counts[check]; err == nil && n.Valid() > 0 {
		u := float64(n.Good) / float64(n.Valid())
		up = &u
	}
	return up, string(o.Live.Verdict(cfg, ch, now).Status), true
}

func (s *Source) AlertPage(ctx context.Context, key string) (*dashboard.AlertPage, error) {
	a, err := s.o.Store.Alert(ctx, key)
	if err != nil || a == nil {
		return nil, err
	}
	hist, err := s.o.Store.AlertNotifications(ctx, key)
	if err != nil {
		return nil, err
	}
	p := &dashboard.AlertPage{Alert: dashboardAlert(a), Rule: a.Rule, Subject: a.Subject, Incident: a.Incident, Component: a.Component,
		AckedAt: a.AckedAt, ResolvedAt: a.ResolvedAt, Details: a.Details, Notifications: []dashboard.NotificationLine{}}
	if a.Incident > 0 {
		if id, _, err := s.o.Store.IncidentForAlert(ctx, a.Key, a.Incident); err == nil {
			p.PublicIncident = id
		}
	}
	for _, m := range a.Members {
		p.Members = append(p.Members, dashboard.AlertMember{Key: m.Key, Summary: m.Summary, Since: m.Since, Recovered: m.Recovered, Holding: m.Holding, Cause: m.Cause})
	}
	for i := len(hist) - 1; i >= 0; i-- { // newest first
		n := hist[i]
		p.Notifications = append(p.Notifications, dashboard.NotificationLine{Notifier: n.Notifier, Action: string(n.Message.Action),
			Level: n.Message.Level, CreatedAt: n.CreatedAt, DeliveredAt: n.Delivered, FailedAt: n.Failed, Attempts: n.Attempts, LastError: n.LastError})
	}
	return p, nil
}

func dashboardAlert(a *alerting.Alert) dashboard.Alert {
	return dashboard.Alert{Key: a.Key, State: string(a.State), Severity: a.Severity, Urgency: a.Urgency,
		Summary: a.Summary, Level: a.Level, FiredAt: a.FiredAt, AckedBy: a.AckedBy, Group: a.Group, Members: len(a.Members)}
}

func (s *Source) Acknowledge(ctx context.Context, key, by string) error {
	return s.o.Acknowledge(ctx, key, by)
}

// EditIncident sets an incident's title and impact as an SRE words them.
func (s *Source) EditIncident(ctx context.Context, id int64, title, impact, by string) error {
	defer s.o.Changed()
	_, err := s.o.Store.ReviseIncident(ctx, id, store.IncidentRevision{Title: title, Impact: impact, By: by, At: s.o.Now()})
	return err
}

func (s *Source) UpdateIncident(ctx context.Context, id int64, status, body, by string) error {
	defer s.o.Changed()
	now := s.o.Now()
	in, err := s.o.Store.IncidentByID(ctx, id)
	if err != nil {
		return err
	}
	if in == nil {
		return fmt.Errorf("incident %d: %w", id, store.ErrNotFound)
	}
	current, err := s.componentStatuses(ctx)
	if err != nil {
		return err
	}
	if err := s.o.Store.AddIncidentUpdate(ctx, id, store.IncidentUpdate{Status: status, Body: body, Author: by, At: now,
		Affected: s.affected(in.Components, in, current)}); err != nil {
		return err
	}
	if in, err = s.o.Store.IncidentByID(ctx, id); err != nil || in == nil {
		return err
	}
	return s.tellIncident(ctx, fmt.Sprintf("status:incident-%d-update-%d", id, now.UnixMilli()), in, status, body)
}

// Export writes the static status page to the configured directory
// and bucket.
func (s *Source) Export(ctx context.Context) error {
	d := s.o.Config().Dashboard
	var sinks []dashboard.Sink
	if d.ExportDir != "" {
		sinks = append(sinks, dashboard.Dir(d.ExportDir))
	}
	if b := d.ExportBucket; b != nil {
		bucket, err := dashboard.NewBucket(dashboard.BucketOptions{Endpoint: b.Endpoint, Bucket: b.Bucket, Prefix: b.Prefix, Region: b.Region,
			AccessKey: b.AccessKey, SecretKey: b.SecretKey, Insecure: b.Insecure, PathStyle: b.PathStyle})
		if err != nil {
			return err
		}
		sinks = append(sinks, bucket)
	}
	if len(sinks) == 0 {
		return nil
	}
	return dashboard.Export(ctx, s, sinks...)
}

// Users are the SRE view's users of cfg.
func Users(cfg *config.Config) []dashboard.User {
	out := make([]dashboard.User, len(cfg.Dashboard.Users))
	for i, u := range cfg.Dashboard.Users {
		out[i] = dashboard.User{Name: u.Name, PasswordHash: u.PasswordHash}
	}
	return out
}

// SessionStore keeps sign-ins.
type SessionStore interface {
	PutSession(ctx context.Context, key string, s store.Session) error
	Session(ctx context.Context, key string, now time.Time) (*store.Session, error)
	DeleteSession(ctx context.Context, key string) error
}

// Sessions keeps the SRE view's sign-ins in the store, where every replica
// finds them.
type Sessions struct{ Store SessionStore }

func (d Sessions) PutSession(ctx context.Context, key string, s dashboard.Session) error {
	return d.Store.PutSession(ctx, key, store.Session(s))
}

func (d Sessions) Session(ctx context.Context, key string, now time.Time) (*dashboard.Session, error) {
	s, err := d.Store.Session(ctx, key, now)
	if s == nil || err != nil {
		return nil, err
	}
	ds := dashboard.Session(*s)
	return &ds, nil
}

func (d Sessions) DeleteSession(ctx context.Context, key string) error {
	return d.Store.DeleteSession(ctx, key)
}

// blips returns the failures of check scheduled in [from, to] that their
// confirmation round did not confirm (sla.Blip), by time and region.
func (s *Source) blips(ctx context.Context, check string, from, to time.Time) (map[store.Cursor]bool, error) {
	samples, err := s.o.Store.Outcomes(ctx, check, from, to.Add(sla.BlipWindow))
	if err != nil {
		return nil, fmt.Errorf("outcomes of %s: %w", check, err)
	}
	sort.SliceStable(samples, func(i, j int) bool { return samples[i].Scheduled.Before(samples[j].Scheduled) })
	out := map[store.Cursor]bool{}
	for i := range samples {
		if sla.Blip(samples, i) {
			out[store.Cursor{Scheduled: samples[i].Scheduled, Region: samples[i].Region}] = true
		}
	}
	return out, nil
}

// Screenshot is a kept image of a failed browser check run.
func (s *Source) Screenshot(ctx context.Context, check, region string, scheduled time.Time) ([]byte, error) {
	return s.o.Store.ScreenshotImage(ctx, check, region, scheduled)
}
