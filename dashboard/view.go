// Package dashboard serves the public status page (complete without
// JavaScript), uptime badges, the static export, and the SRE view behind a
// login with CSRF protection. It renders what a Source gives it; every
// asset is embedded.
package dashboard

import (
	"context"
	"fmt"
	"net/url"
	"time"
)

// Statuspage component statuses.
const (
	Operational         = "operational"
	DegradedPerformance = "degraded_performance"
	PartialOutage       = "partial_outage"
	MajorOutage         = "major_outage"
	UnderMaintenance    = "under_maintenance"
	NoData              = "no_data"
)

// Labels are the words shown with every status, so colour never carries it
// alone.
var Labels = map[string]string{
	Operational: "Operational", DegradedPerformance: "Degraded performance", PartialOutage: "Partial outage",
	MajorOutage: "Major outage", UnderMaintenance: "Under maintenance", NoData: "No data",
	"up": "Up", "down": "Down", "degraded": "Degraded", "unknown": "Unknown", "maintenance": "Maintenance",
}

// StatusPage is the public page.
type StatusPage struct {
	Title       string      `json:"title"`
	GeneratedAt time.Time   `json:"generated_at"`
	Status      string      `json:"status"` // the worst component status
	Regions     []Region    `json:"regions"`
	Components  []Component `json:"components"`
	Incidents   []Incident  `json:"incidents"`
	// Announced is the announced maintenance ahead and in progress.
	Announced []Announced `json:"scheduled_maintenance"`
	// Subscribe is the subscription form; nil when subscriptions are off.
	Subscribe *SubscribeForm `json:"-"`
}

// SubscribeForm says what a visitor may subscribe with and to.
type SubscribeForm struct {
	Email, Webhook bool
	Components     []Choice
}

// Choice is a component a subscriber may choose.
type Choice struct{ ID, Name string }

// SubscribeResult is what a visitor is told after subscribing or
// confirming.
type SubscribeResult struct {
	Kind string
	// Masked is the address as shown back (an email's user part cut).
	Masked string
	// Secret, for a webhook verified at once, signs every call to it
	// (X-Nines-Signature); it is shown once.
	Secret string
	// Confirmed says the subscription is in force.
	Confirmed bool
}

// FormError is a form refused, with the field at fault.
type FormError struct{ Field, Msg string }

func (e *FormError) Error() string { return e.Field + ": " + e.Msg }

// SubscriberRow is a subscriber as the SRE view lists it.
type SubscriberRow struct {
	ID         int64
	Kind       string
	Address    string
	Components []string
	CreatedAt  time.Time
	Confirmed  bool
}

// Subscriptions are the status page's subscribers.
type Subscriptions interface {
	Subscribe(ctx context.Context, kind, address string, components []string) (*SubscribeResult, error)
	// Confirm confirms the subscription of token; nil for a link that is
	// not (or no longer) valid.
	Confirm(ctx context.Context, token string) (*SubscribeResult, error)
	Unsubscribe(ctx context.Context, token string) (bool, error)
	Subscribers(ctx context.Context) ([]SubscriberRow, error)
	RemoveSubscriber(ctx context.Context, id int64) error
}

// Announced is an announced maintenance window's occurrence.
type Announced struct {
	ID         string    `json:"id"` // the window's id and start, unique
	Name       string    `json:"name"`
	Status     string    `json:"status"` // scheduled, in_progress, completed
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Components []string  `json:"components"` // names
	// AnnouncedAt is when it was first shown to the public.
	AnnouncedAt time.Time `json:"announced_at"`
}

// HistoryPage is /history: the past by month, newest first.
type HistoryPage struct {
	Title       string         `json:"title"`
	GeneratedAt time.Time      `json:"generated_at"`
	Months      []HistoryMonth `json:"months"`
	// Ahead is the announced maintenance ahead and in progress.
	Ahead []Announced `json:"scheduled_maintenance"`
}

// HistoryMonth is one calendar month (UTC) of the history.
type HistoryMonth struct {
	Month       time.Time     `json:"month"`
	Incidents   []Incident    `json:"incidents"`
	Maintenance []Announced   `json:"maintenance"`
	Uptime      []MonthUptime `json:"uptime"`
}

// MonthUptime is one component's availability over a month: good over
// valid minutes, nil without any.
type MonthUptime struct {
	Component string   `json:"component"`
	Name      string   `json:"name"`
	Uptime    *float64 `json:"uptime"`
}

// Region is a probe region and whether its probes are heard from.
type Region struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Healthy bool   `json:"healthy"`
}

// Component is one row of the status page.
type Component struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Group, GroupID and GroupStatus place it in a component group (the
	// group's status is the worst of its components').
	Group       string   `json:"group,omitempty"`
	GroupID     string   `json:"group_id,omitempty"`
	GroupStatus string   `json:"group_status,omitempty"`
	Status      string   `json:"status"`
	Days        []Day    `json:"days"`
	Uptime90    *float64 `json:"uptime_90d"`
	// Cells is the region matrix row: the worst status of the component's
	// checks as each region sees them.
	Cells []Cell `json:"regions"`
}

// Day is one uptime bar.
type Day struct {
	Date        time.Time `json:"date"`
	Uptime      *float64  `json:"uptime"` // nil: no valid minute
	Down        int       `json:"down_minutes"`
	Degraded    int       `json:"degraded_minutes"`
	Maintenance int       `json:"maintenance_minutes"`
}

// Cell is one region's view of one component.
type Cell struct {
	Region string `json:"region"`
	Status string `json:"status"` // up, down, degraded, unknown
}

// Incident is a status page incident with its updates, newest first.
type Incident struct {
	ID         int64            `json:"id"`
	Component  string           `json:"component"`
	Components []string         `json:"components,omitempty"`
	EditedBy   string           `json:"edited_by,omitempty"`
	Title      string           `json:"title"`
	Status     string           `json:"status"`
	Impact     string           `json:"impact"`
	StartedAt  time.Time        `json:"started_at"`
	UpdatedAt  time.Time        `json:"updated_at"` // its last change: an update, a new title
	ResolvedAt *time.Time       `json:"resolved_at,omitempty"`
	Updates    []IncidentUpdate `json:"updates"`
}

// IncidentUpdate is one timeline entry.
type IncidentUpdate struct {
	At     time.Time `json:"at"`
	Status string    `json:"status"`
	Body   string    `json:"body"`
	Author string    `json:"author"`
}

// SREPage is the SRE's overview.
type SREPage struct {
	SLOs        []SLO         `json:"slos"`
	Alerts      []Alert       `json:"alerts"`
	Probes      []Probe       `json:"probes"`
	Maintenance []Maintenance `json:"maintenance"`
	Checks      []CheckRow    `json:"checks"`
	Incidents   []Incident    `json:"incidents"`
}

// SLO is one error budget.
type SLO struct {
	ID             string     `json:"id"`
	Name           string     `json:"name"`
	SLI            *float64   `json:"sli"`
	Target         float64    `json:"target"`
	Unit           string     `json:"unit"`
	Total          float64    `json:"total"`
	Remaining      float64    `json:"remaining"`
	RemainingRatio float64    `json:"remaining_ratio"`
	Burn           []Burn     `json:"burn"`
	ExhaustedAt    *time.Time `json:"exhausted_at,omitempty"`
	ExhaustedSince *time.Time `json:"exhausted_since,omitempty"`
	// RealUsers is an events SLO's: real traffic's counts, shown beside
	// the checks that watch the same service.
	RealUsers *RealUsers `json:"real_users,omitempty"`
}

// RealUsers is what a request-based SLO counted of real traffic over its
// window, where the counts came from, and the synthetic checks of the
// same service with their status now.
type RealUsers struct {
	Source string     `json:"source"`
	Good   int        `json:"good"`
	Valid  int        `json:"valid"`
	Newest *time.Time `json:"newest,omitempty"`
	Beside []CheckRow `json:"beside,omitempty"`
	// Recent are the counts of the last five minutes, what the probes'
	// verdicts now are compared with; Disagreement, the summary of a
	// disagreement alert open for the SLO (firing or pending).
	Recent       *Counted `json:"recent,omitempty"`
	Disagreement string   `json:"disagreement,omitempty"`
}

// Counted are good of valid events.
type Counted struct {
	Good  int `json:"good"`
	Valid int `json:"valid"`
}

// Share is the good share in percent (100 with no events).
func (c *Counted) Share() float64 {
	if c.Valid == 0 {
		return 100
	}
	return 100 * float64(c.Good) / float64(c.Valid)
}

// Burn is one window's burn rate.
type Burn struct {
	Window string  `json:"window"`
	Rate   float64 `json:"rate"`
}

// Alert is one open or recent alert.
type Alert struct {
	Key      string     `json:"key"`
	State    string     `json:"state"`
	Severity string     `json:"severity"`
	Urgency  string     `json:"urgency"`
	Summary  string     `json:"summary"`
	Level    int        `json:"level"`
	FiredAt  *time.Time `json:"fired_at,omitempty"`
	AckedBy  string     `json:"acked_by,omitempty"`
	// Group is the group a rule's alert notifies through; Members counts
	// a group's alerts.
	Group   string `json:"group,omitempty"`
	Members int    `json:"members,omitempty"`
}

// AlertPage is one alert with its notifications, the page every
// notification links to.
type AlertPage struct {
	Alert
	Rule     string `json:"rule"`
	Subject  string `json:"subject"`
	Incident int64  `json:"incident"` // the alert's own firing number
	// PublicIncident is the status page incident of this firing (0: none).
	PublicIncident int64          `json:"public_incident,omitempty"`
	Component      string         `json:"component,omitempty"`
	AckedAt        *time.Time     `json:"acknowledged_at,omitempty"`
	ResolvedAt     *time.Time     `json:"resolved_at,omitempty"`
	Details        map[string]any `json:"details,omitempty"`
	// Members are a group's alerts: what its notifications told of.
	Members       []AlertMember      `json:"members,omitempty"`
	Notifications []NotificationLine `json:"notifications"`
}

// AlertMember is one alert of a group.
type AlertMember struct {
	Key       string     `json:"key"`
	Summary   string     `json:"summary"`
	Since     time.Time  `json:"since"`
	Recovered *time.Time `json:"recovered_at,omitempty"`
	Holding   bool       `json:"holding"`
	Cause     string     `json:"cause,omitempty"`
}

// NotificationLine is one notification of an alert and how it went.
type NotificationLine struct {
	Notifier    string     `json:"notifier"`
	Action      string     `json:"action"`
	Level       int        `json:"level"`
	CreatedAt   time.Time  `json:"created_at"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
	FailedAt    *time.Time `json:"failed_at,omitempty"`
	Attempts    int        `json:"attempts"`
	LastError   string     `json:"last_error,omitempty"`
}

// Probe is one probe agent.
type Probe struct {
	Region        string    `json:"region"`
	ID            string    `json:"id"`
	Healthy       bool      `json:"healthy"`
	LastHeartbeat time.Time `json:"last_heartbeat"`
	SpoolDepth    int       `json:"spool_depth"`
}

// Maintenance is one maintenance window occurrence.
type Maintenance struct {
	ID     string    `json:"id"`
	Reason string    `json:"reason"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Checks []string  `json:"checks"`
}

// CheckRow links to a check's page.
type CheckRow struct {
	ID        string `json:"id"`
	Component string `json:"component"`
	Status    string `json:"status"`
}

// CheckPage is one check's recent results and latency by region.
type CheckPage struct {
	ID      string          `json:"id"`
	Name    string          `json:"name"`
	Status  string          `json:"status"`
	Range   string          `json:"range"` // one of CheckRanges
	Results []Result        `json:"results"`
	Latency []RegionLatency `json:"latency"`
	Uptime  []RegionUptime  `json:"uptime"`
	// Older, when set, is the cursor of the next (older) page of results.
	Older string `json:"older,omitempty"`
	// Kept is how far back raw results go when the range reaches past it.
	Kept string `json:"kept,omitempty"`
	// Screenshots are the pages a browser check failed on, newest first.
	Screenshots []Screenshot `json:"screenshots,omitempty"`
	// Vitals are a browser check's page figures over the range.
	Vitals *Vitals `json:"vitals,omitempty"`
}

// Vital is one figure of a page as a browser saw it, rated as web.dev
// rates Core Web Vitals: good up to Good, poor above Poor, at the 75th
// percentile of the page's loads.
type Vital struct {
	Name  string  `json:"name"`
	Label string  `json:"label"`
	Unit  string  `json:"unit,omitempty"`
	Good  float64 `json:"good"`
	Poor  float64 `json:"poor"`
}

// VitalFigures are the Core Web Vitals and TTFB of a browser check's runs.
var VitalFigures = []Vital{
	{Name: "lcp", Label: "LCP", Unit: "ms", Good: 2500, Poor: 4000},
	{Name: "cls", Label: "CLS", Good: 0.1, Poor: 0.25},
	{Name: "inp", Label: "INP (slowest interaction)", Unit: "ms", Good: 200, Poor: 500},
	{Name: "ttfb", Label: "TTFB", Unit: "ms", Good: 800, Poor: 1800},
}

// Rating is good, needs-improvement or poor.
func (v Vital) Rating(x float64) string {
	switch {
	case x <= v.Good:
		return "good"
	case x <= v.Poor:
		return "needs-improvement"
	}
	return "poor"
}

// Vitals are a browser check's figures (VitalFigures, in that order) at
// their 75th percentile: over the range by region, and per period.
type Vitals struct {
	Regions []RegionVitals `json:"regions"`
	// Charts has one chart per figure: a line per region.
	Charts []VitalChart `json:"charts"`
}

// RegionVitals is one region's figures over the range; nil where no run
// measured one (INP needs an interaction).
type RegionVitals struct {
	Region string     `json:"region"`
	Runs   int        `json:"runs"`
	P75    []*float64 `json:"p75"`
}

// VitalChart is one figure per period, a series per region.
type VitalChart struct {
	Vital
	Series []VitalSeries `json:"series"`
}

// VitalSeries is one region's figure per period.
type VitalSeries struct {
	Region string       `json:"region"`
	Points []VitalPoint `json:"points"`
}

// VitalPoint is a period's 75th percentile.
type VitalPoint struct {
	At  time.Time `json:"at"`
	P75 float64   `json:"p75"`
}

// Screenshot is a picture of the page a failed browser check run saw.
type Screenshot struct {
	At      time.Time `json:"at"` // the run's scheduled time
	Region  string    `json:"region"`
	Message string    `json:"message"`
}

// ScreenshotPath is where the SRE view serves a check's screenshot.
func ScreenshotPath(check string, sh Screenshot) string {
	return fmt.Sprintf("/sre/checks/%s/screenshots/%s/%d.jpg", url.PathEscape(check), url.PathEscape(sh.Region), sh.At.UnixMilli())
}

// CheckRanges are the ranges a check page shows, and the width of one
// point of its charts.
var CheckRanges = []struct {
	Name   string
	Span   time.Duration
	Bucket time.Duration
}{{"1h", time.Hour, time.Minute}, {"24h", 24 * time.Hour, 15 * time.Minute}, {"7d", 7 * 24 * time.Hour, 2 * time.Hour},
	{"30d", 30 * 24 * time.Hour, 6 * time.Hour}, {"90d", 90 * 24 * time.Hour, 24 * time.Hour}}

// CheckQuery is what a check page is asked for: a range (CheckRanges) and
// a page of raw results older than a cursor ("": the newest).
type CheckQuery struct {
	Range, Before string
}

// RegionUptime is one region's share of up results over the range.
type RegionUptime struct {
	Region  string   `json:"region"`
	Uptime  *float64 `json:"uptime"`
	Results int      `json:"results"`
}

// Result is one recent result.
type Result struct {
	At        time.Time `json:"at"`
	Region    string    `json:"region"`
	Outcome   string    `json:"outcome"`
	Class     string    `json:"error_class,omitempty"`
	LatencyMS float64   `json:"latency_ms"`
	Message   string    `json:"message,omitempty"`
	// OnDemand marks a run a confirmation round asked for; NotConfirmed a
	// failure its round did not confirm, which counts in no verdict.
	OnDemand     bool `json:"on_demand,omitempty"`
	NotConfirmed bool `json:"not_confirmed,omitempty"`
}

// RegionLatency is a region's latency percentiles per period.
type RegionLatency struct {
	Region string       `json:"region"`
	Points []Percentile `json:"points"`
}

// Percentile is p50/p95/p99 of one period's up results, in milliseconds,
// and the failed runs of the period with the longest of them.
type Percentile struct {
	At            time.Time `json:"at"`
	P50, P95, P99 float64
	Up            int     `json:"up"`
	Failed        int     `json:"failed"`
	FailedMS      float64 `json:"failed_ms"`
}

// Source is what the dashboard shows and changes.
type Source interface {
	StatusPage(ctx context.Context) (*StatusPage, error)
	SREPage(ctx context.Context) (*SREPage, error)
	CheckPage(ctx context.Context, id string, q CheckQuery) (*CheckPage, error)
	// Badge returns a check's 30-day availability (nil without data) and
	// its status; ok is false for an unknown check.
	Badge(ctx context.Context, check string) (uptime *float64, status string, ok bool)
	// AlertPage returns an alert with its notifications; nil when there is
	// no such alert.
	AlertPage(ctx context.Context, key string) (*AlertPage, error)
	Acknowledge(ctx context.Context, key, by string) error
	UpdateIncident(ctx context.Context, id int64, status, body, by string) error
	// EditIncident sets an incident's title and impact, as an SRE words
	// them; nines keeps them from then on.
	EditIncident(ctx context.Context, id int64, title, impact, by string) error
	// History returns the past months; Incident one incident, nil when
	// there is no such incident.
	History(ctx context.Context) (*HistoryPage, error)
	Incident(ctx context.Context, id int64) (*Incident, error)
	// Maintenance is an announced maintenance window's occurrence as an
	// incident with its lifecycle (scheduled, in progress, completed);
	// nil when there is none.
	Maintenance(ctx context.Context, id string) (*Incident, error)
	// Screenshot is the image a browser check's run in region scheduled
	// at took; nil when none is kept.
	Screenshot(ctx context.Context, check, region string, scheduled time.Time) ([]byte, error)
}
