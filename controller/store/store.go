// Package store is the contract of the controller's storage: raw results,
// minute verdicts and their rollups, latency events, alerts with their
// notification outbox, status page incidents and probe heartbeats. Two
// backends implement it: store/sqlite (one controller, the default) and
// store/postgres (several controller replicas over one database); the suite
// in store/storetest holds both to the same behaviour.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"maps"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nines-sre/nines/alerting"
	"github.com/nines-sre/nines/controller/sla"
	"github.com/nines-sre/nines/model"
)

// Store is everything the controller keeps. Implementations are safe for
// concurrent use.
type Store interface {
	alerting.Store

	// InsertResults stores rs atomically and returns, per result, whether
	// it was new (true) or already stored (false). Every new result marks
	// its check's minute dirty in the same transaction.
	InsertResults(ctx context.Context, rs []model.Result) ([]bool, error)
	// Latest returns the newest result of every check in every region.
	Latest(ctx context.Context) ([]model.Result, error)
	// Results returns the results matching q, oldest first; ErrNotFound
	// when the check or region has never had a result.
	Results(ctx context.Context, q Query) ([]model.Result, error)
	CountResults(ctx context.Context) (int64, error)
	// DiskBytes reports what the stored data takes on disk.
	DiskBytes(ctx context.Context) (int64, error)
	// Outcomes returns the results of check scheduled in [from, to).
	Outcomes(ctx context.Context, check string, from, to time.Time) ([]Outcome, error)

	// DirtyMinutes reads up to limit marks: the scheduled minutes of
	// results stored since their slices were last computed.
	DirtyMinutes(ctx context.Context, limit int) (Dirty, error)
	// MarkAllDirty marks every minute of check that has raw results.
	MarkAllDirty(ctx context.Context, check string) error
	// MarkRegionDirty marks the minutes in [from, to] of every check with
	// raw results from region then: their region's health changed.
	MarkRegionDirty(ctx context.Context, region string, from, to time.Time) error
	// PutSlices stores minute verdicts, replacing earlier ones, rolls them
	// up by hour and day and clears the handled marks made up to seq, in
	// one transaction; a mark renewed meanwhile by a newer result stays.
	PutSlices(ctx context.Context, check string, slices map[sla.Minute]sla.Slice, handled []sla.Minute, seq int64) error
	// PutVerdicts is PutSlices for several checks at once, each with the
	// latency events of the same minutes, rolled up alike: one
	// transaction for them all.
	PutVerdicts(ctx context.Context, vs []Verdicts) error
	// ServiceSlices calls fn for every minute in [from, to) that has a
	// slice of any of checks, combined (sla.Combine), in minute order.
	ServiceSlices(ctx context.Context, checks []string, from, to sla.Minute, fn func(sla.Minute, sla.Slice)) error
	// Counts tallies the minutes of each check in [from, to) from rollups
	// and edge minutes; with no checks named it counts every check.
	Counts(ctx context.Context, checks []string, from, to sla.Minute) (map[string]sla.Counts, error)
	// History returns per check its buckets of span in [from, to), oldest
	// first, leaving out buckets with no verdict.
	History(ctx context.Context, checks []string, span int, from, to sla.Minute) (map[string][]Bucket, error)
	// EventCounts sums the latency events of checks at threshold (ms).
	EventCounts(ctx context.Context, checks []string, thresholdMS int64, from, to sla.Minute) (sla.Events, error)
	HasLatencyEvents(ctx context.Context, check string, thresholdMS int64) (bool, error)
	// PutSLOEvents stores the good and valid events of an events SLO per
	// minute (sla.Events: Good and Total), each minute's replacing what
	// it had, so that counts sent again are not counted twice.
	PutSLOEvents(ctx context.Context, slo string, counts map[sla.Minute]sla.Events) error
	// SLOEvents sums an events SLO's counts over [from, to) and says the
	// newest minute with counts there (0 when none).
	SLOEvents(ctx context.Context, slo string, from, to sla.Minute) (sla.Events, sla.Minute, error)
	// FirstSLOEvents is the first minute an events SLO counted events in
	// (0 when none): minutes of no events before it (a source that read
	// back before the service had traffic) do not make the SLO older.
	FirstSLOEvents(ctx context.Context, slo string) (sla.Minute, error)
	// PutAlertEvent records an event of an event rule at at (a trigger
	// opens or keeps its key, a resolve ends it) and reports whether
	// anything changed; AlertEvents returns the events last triggered
	// since since, newest first, at most limit; PruneAlertEvents deletes
	// those last triggered before before.
	PutAlertEvent(ctx context.Context, rule string, e *model.AlertEvent, at time.Time) (bool, error)
	AlertEvents(ctx context.Context, since time.Time, limit int) ([]alerting.Event, error)
	PruneAlertEvents(ctx context.Context, before time.Time) (int64, error)

	// PruneResults deletes raw results scheduled before before.
	PruneResults(ctx context.Context, before time.Time) (int64, error)
	// PruneSlices deletes minute slices and minute latency events before
	// before; rollups stay.
	PruneSlices(ctx context.Context, before sla.Minute) (int64, error)

	RecentAlerts(ctx context.Context, since time.Time) ([]alerting.Alert, error)
	AlertNotifications(ctx context.Context, key string) ([]NotificationHistory, error)

	// OpenIncident opens the incident of an alert's firing (a group's),
	// once per alert incident number, with its first update; it returns
	// its id, and whether this call opened it.
	OpenIncident(ctx context.Context, o IncidentOpening) (id int64, opened bool, err error)
	// ReviseIncident changes an incident's title, impact, components and
	// checks (ErrNotFound when there is none). Revised by nines (By
	// empty), only an open incident changes, and never the title or
	// impact an SRE set; revised by an SRE, the title and impact given
	// are set and kept. It reports whether anything changed.
	ReviseIncident(ctx context.Context, id int64, r IncidentRevision) (bool, error)
	// AddIncidentUpdate appends u to an incident's timeline and sets its
	// status (and its end, when resolved) and updated_at.
	AddIncidentUpdate(ctx context.Context, id int64, u IncidentUpdate) error
	// Announce records when each announced maintenance window of ids was
	// first shown (at, for those new; a zero at records nothing) and
	// returns the time of every one recorded.
	Announce(ctx context.Context, ids []string, at time.Time) (map[string]time.Time, error)
	IncidentForAlert(ctx context.Context, alertKey string, alertSeq int64) (id int64, open bool, err error)
	// Incidents returns at most limit (1 to MaxIncidents) incidents,
	// newest first, with their updates: those open now, whenever they
	// started and before any other, then those started since since.
	Incidents(ctx context.Context, since time.Time, limit int) ([]Incident, error)
	// IncidentByID returns one incident with its updates, newest first;
	// nil when there is none.
	IncidentByID(ctx context.Context, id int64) (*Incident, error)

	// Subscribe adds a subscriber, unconfirmed. An address already there
	// unconfirmed for longer than PendingFor takes the new components,
	// token and time; a younger pending one and a confirmed one are left
	// as they are, so that nobody changes another's subscription or
	// voids the link its owner was sent (the caller sees the stored token
	// differ). It returns the subscriber as stored.
	Subscribe(ctx context.Context, sub Subscriber) (Subscriber, error)
	// ConfirmSubscriber confirms the subscriber of token at at; nil when
	// no subscriber has that token.
	ConfirmSubscriber(ctx context.Context, token string, at time.Time) (*Subscriber, error)
	// Unsubscribe removes the subscriber of token (or, with token empty,
	// of id), reporting whether there was one.
	Unsubscribe(ctx context.Context, token string, id int64) (bool, error)
	// Subscribers lists the subscribers, oldest first.
	Subscribers(ctx context.Context) ([]Subscriber, error)
	// EnqueueNotifications queues status page notifications (alert keys
	// status:…), each at most once per key and notifier, and reports how
	// many were new.
	EnqueueNotifications(ctx context.Context, key string, notes []alerting.Notification) (int, error)

	// PutScreenshot keeps the picture a failed browser check took, and of
	// each check only the newest KeptScreenshots; Screenshots lists a
	// check's, newest first, without their images; ScreenshotImage is one
	// image (nil when it is not kept).
	PutScreenshot(ctx context.Context, s Screenshot) error
	Screenshots(ctx context.Context, check string) ([]Screenshot, error)
	ScreenshotImage(ctx context.Context, check, region string, scheduled time.Time) ([]byte, error)

	// SaveProbe records a probe's latest heartbeat; Probes returns those
	// heard from since since, so that every controller replica knows every
	// probe whichever replica it talks to.
	SaveProbe(ctx context.Context, p Probe) error
	Probes(ctx context.Context, since time.Time) ([]Probe, error)
	// ForgetProbe removes a probe of region that deregistered.
	ForgetProbe(ctx context.Context, id, region string) error
	// PutHealth records that a region's probes were heard from throughout
	// a span, widening a stored span of the region with the same start;
	// Health returns the spans that end at or after since, sorted by
	// region and start; PruneHealth deletes those that ended before before.
	// Spans of several replicas may overlap: a region was healthy when any
	// span says so.
	PutHealth(ctx context.Context, span HealthSpan) error
	Health(ctx context.Context, since time.Time) ([]HealthSpan, error)
	PruneHealth(ctx context.Context, before time.Time) (int64, error)

	// PutSession, Session and DeleteSession keep the SRE view's sign-ins,
	// by a digest of the session id, so that every replica knows them;
	// Session returns nil for an unknown session or one expired at now.
	// PruneSessions deletes those expired before before.
	PutSession(ctx context.Context, key string, s Session) error
	Session(ctx context.Context, key string, now time.Time) (*Session, error)
	DeleteSession(ctx context.Context, key string) error
	PruneSessions(ctx context.Context, before time.Time) (int64, error)

	// Ping reports whether the store answers.
	Ping(ctx context.Context) error

	Close() error
}

// ErrNotFound is returned when a named check, region or incident is unknown.
var ErrNotFound = errors.New("not found")

// Query selects results.
type Query struct {
	Check  string
	Region string // empty: every region
	Since  time.Time
	Until  time.Time // zero: no upper bound
	Limit  int       // zero: 1000
	// Newest orders the newest first (by scheduled time, then region);
	// otherwise the oldest come first.
	Newest bool
	// After, when set, continues a listing past this result's key in the
	// query's order: the cursor of the page before.
	After *Cursor
}

// Cursor is the key of the last result of a page.
type Cursor struct {
	Scheduled time.Time
	Region    string
}

// String is the cursor as the API hands it out: the scheduled time in
// Unix milliseconds, a dot, the region.
func (c Cursor) String() string {
	return strconv.FormatInt(c.Scheduled.UnixMilli(), 10) + "." + c.Region
}

// ParseCursor reads a cursor that String wrote.
func ParseCursor(s string) (*Cursor, error) {
	ms, region, ok := strings.Cut(s, ".")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil || region == "" {
		return nil, fmt.Errorf("%q is not a cursor from next_cursor", s)
	}
	return &Cursor{Scheduled: time.UnixMilli(n).UTC(), Region: region}, nil
}

// Order returns the SQL ordering and the comparison that continues past a
// cursor for q.
func (q Query) Order() (order, past string) {
	if q.Newest {
		return "scheduled DESC, region_id DESC", "<"
	}
	return "scheduled, region_id", ">"
}

// Outcome is one regional result, reduced to what slicing needs; its
// ProbeProblem is set when the probe marked the result as failed while it
// was cut off (model.Result.ProbeIsolated).
type Outcome = sla.Sample

// Dirty is a batch of minutes to recompute, by check, up to mark Seq.
type Dirty struct {
	Checks map[string][]sla.Minute
	Seq    int64
}

// LatencyEvents are a check's latency occurrences per threshold (ms) and
// minute.
type LatencyEvents map[int64]map[sla.Minute]sla.Events

// Bucket is one hour or day of a check's history.
type Bucket struct {
	Start time.Time
	sla.Counts
}

// NotificationHistory is an alert's notifications, oldest first, with
// every attempt.
type NotificationHistory struct {
	alerting.Notification
	AttemptLog []alerting.Attempt `json:"attempts_log"`
}

// IncidentOpening is what an incident opens with.
type IncidentOpening struct {
	AlertKey   string
	AlertSeq   int64
	Components []string // those affected, the first foremost
	Checks     []string // the checks whose outage it is
	Title      string
	Impact     string
	Body       string // the first update's
	// Affected are the components the first update touched, with their
	// status before and after.
	Affected []ComponentChange
	At       time.Time
}

// IncidentRevision is a change to an incident's description.
type IncidentRevision struct {
	Title, Impact      string // empty: unchanged
	Components, Checks []string
	// By is the SRE who revised it, or empty for nines itself.
	By string
	At time.Time // when: the incident's updated_at
}

// Incident is a status page incident with its updates, newest first.
type Incident struct {
	ID         int64            `json:"id"`
	AlertKey   string           `json:"alert_key"`
	Component  string           `json:"component"`
	Components []string         `json:"components"`
	Checks     []string         `json:"checks"`
	EditedBy   string           `json:"edited_by,omitempty"`
	Title      string           `json:"title"`
	Status     string           `json:"status"` // investigating, identified, monitoring, resolved
	Impact     string           `json:"impact"` // none, minor, major, critical
	StartedAt  time.Time        `json:"started_at"`
	UpdatedAt  time.Time        `json:"updated_at"` // its last change: an update or a revision
	ResolvedAt *time.Time       `json:"resolved_at,omitempty"`
	Updates    []IncidentUpdate `json:"updates"`
}

// IncidentUpdate is one entry of an incident's timeline.
type IncidentUpdate struct {
	At     time.Time `json:"at"`
	Status string    `json:"status"`
	Body   string    `json:"body"`
	Author string    `json:"author"`
	// Affected are the components this update touched, with their status
	// before and after it (Statuspage's affected_components).
	Affected []ComponentChange `json:"affected,omitempty"`
}

// ComponentChange is a component's status before and after an incident
// update, in Statuspage's words.
type ComponentChange struct {
	Component string `json:"component"`
	Old       string `json:"old"`
	New       string `json:"new"`
}

// EncodeAffected is the stored form of an update's affected components.
func EncodeAffected(a []ComponentChange) string {
	if len(a) == 0 {
		return ""
	}
	b, _ := json.Marshal(a)
	return string(b)
}

// DecodeAffected reads what EncodeAffected stored; a value it cannot read
// is no component.
func DecodeAffected(s string) []ComponentChange {
	if s == "" {
		return nil
	}
	var a []ComponentChange
	if json.Unmarshal([]byte(s), &a) != nil {
		return nil
	}
	return a
}

// IncidentUpdatedAt is an incident's updated_at as stored (0 before it
// was kept: its newest update's time, or its start).
func IncidentUpdatedAt(in *Incident, ms int64) {
	switch {
	case ms > 0:
		in.UpdatedAt = time.UnixMilli(ms).UTC()
	case len(in.Updates) > 0:
		in.UpdatedAt = in.Updates[0].At
	default:
		in.UpdatedAt = in.StartedAt
	}
}

// PendingFor is how long an unconfirmed subscription holds its address:
// one confirmation link per address and day.
const PendingFor = 24 * time.Hour

// PendingForMS is PendingFor in milliseconds, as SQL.
const PendingForMS = "86400000"

// Subscriber is who the status page tells of incidents and maintenance:
// an email address or a webhook URL, for every component (Components
// empty) or some. Token is the secret of its confirmation and unsubscribe
// links; ConfirmedAt is nil until it confirmed.
type Subscriber struct {
	ID          int64      `json:"id"`
	Kind        string     `json:"kind"` // email or webhook
	Address     string     `json:"address"`
	Components  []string   `json:"components"`
	Token       string     `json:"-"`
	CreatedAt   time.Time  `json:"created_at"`
	ConfirmedAt *time.Time `json:"confirmed_at,omitempty"`
}

// SubscriberComponents is the stored form of a subscriber's components:
// never null, so that "every component" is an empty list.
func SubscriberComponents(c []string) []string {
	if c == nil {
		return []string{}
	}
	return c
}

// Probe is the last heartbeat of one probe agent.
type Probe struct {
	ID            string
	Region        string
	Version       string
	StartedAt     time.Time
	LastHeartbeat time.Time
	SpoolDepth    int
	ClockSkew     time.Duration
	// FirstSeen is when a controller first heard from the probe in its
	// region (its tenure, which survives restarts): among probes that
	// no token names, the longest-registered runs the region's checks.
	FirstSeen time.Time
	// Capabilities are what the probe said it can run (model.Capabilities).
	Capabilities []string
}

// Tenure is FirstSeen, or the last heartbeat when that is not known.
func (p Probe) Tenure() time.Time {
	if p.FirstSeen.IsZero() {
		return p.LastHeartbeat
	}
	return p.FirstSeen
}

// HealthSpan is a time during which a region's probes heartbeat no further
// apart than the unhealthy threshold: from its first heartbeat (or the
// start of a probe that began then) to its last.
type HealthSpan struct {
	Region   string
	From, To time.Time
}

// Rows is what both backends' query results offer.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// ReadHealth reads stored health spans, rows of region, start_ms and
// end_ms.
func ReadHealth(rows Rows) ([]HealthSpan, error) {
	var out []HealthSpan
	for rows.Next() {
		var h HealthSpan
		var from, to int64
		if err := rows.Scan(&h.Region, &from, &to); err != nil {
			return nil, fmt.Errorf("read region health: %w", err)
		}
		h.From, h.To = time.UnixMilli(from).UTC(), time.UnixMilli(to).UTC()
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read region health: %w", err)
	}
	return out, nil
}

// Session is one signed-in user of the SRE view.
type Session struct {
	User    string
	CSRF    string
	Expires time.Time
}

// Outcomes as stored: 0 down, 1 up, 2 degraded, 3 down while the probe was
// cut off (it reached no controller and no other target).
const outcomeIsolated = 3

// OutcomeCode is the stored code of r's outcome.
func OutcomeCode(r *model.Result) int {
	switch {
	case r.Outcome == model.OutcomeUp:
		return 1
	case r.Outcome == model.OutcomeDegraded:
		return 2
	case r.ProbeIsolated:
		return outcomeIsolated
	}
	return 0
}

// DecodeOutcome is the outcome of a stored code, and whether the probe was
// cut off when it failed.
func DecodeOutcome(code int) (model.Outcome, bool) {
	switch code {
	case 1:
		return model.OutcomeUp, false
	case 2:
		return model.OutcomeDegraded, false
	case outcomeIsolated:
		return model.OutcomeDown, true
	}
	return model.OutcomeDown, false
}

// NewOutcome builds the outcome of a stored result; facts is its stored
// facts JSON, if any.
func NewOutcome(region string, scheduledMS int64, code int, durationUS int64, facts []byte) Outcome {
	o := Outcome{Region: region, Scheduled: time.UnixMilli(scheduledMS).UTC(), Duration: time.Duration(durationUS) * time.Microsecond}
	o.Outcome, o.ProbeProblem = DecodeOutcome(code)
	var r model.Result
	if DecodeFacts(facts, &r) == nil {
		o.OnDemand, o.Recovery = r.OnDemand, r.Recovery
		if r.Edge != nil {
			o.ContentHash, o.Version = r.Edge.ContentHash, r.Edge.Version
		}
	}
	return o
}

// facts is what a result's kind learned besides its outcome, as stored
// (one JSON column): a CDN edge's fields, or a dns or flow block.
type facts struct {
	*model.Edge
	DNS      *model.DNSFacts     `json:"dns,omitempty"`
	Flow     *model.FlowFacts    `json:"flow,omitempty"`
	Browser  *model.BrowserFacts `json:"browser,omitempty"`
	OnDemand bool                `json:"on_demand,omitempty"`
	Recovery bool                `json:"recovery,omitempty"`
}

// EncodeFacts is the stored facts of r; nil when it has none.
func EncodeFacts(r *model.Result) (*string, error) {
	if r.Edge == nil && r.DNS == nil && r.Flow == nil && r.Browser == nil && !r.OnDemand {
		return nil, nil
	}
	b, err := json.Marshal(facts{Edge: r.Edge, DNS: r.DNS, Flow: r.Flow, Browser: r.Browser, OnDemand: r.OnDemand, Recovery: r.Recovery})
	if err != nil {
		return nil, fmt.Errorf("encode facts of %s: %w", r.Key(), err)
	}
	s := string(b)
	return &s, nil
}

// DecodeFacts sets r's facts from their stored JSON (nothing when empty),
// and the certificate's days left from its expiry.
func DecodeFacts(b []byte, r *model.Result) error {
	r.CertDaysLeft = r.CertDays()
	if len(b) == 0 {
		return nil
	}
	var f facts
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("decode facts: %w", err)
	}
	r.Edge, r.DNS, r.Flow, r.Browser, r.OnDemand, r.Recovery = f.Edge, f.DNS, f.Flow, f.Browser, f.OnDemand, f.Recovery
	return nil
}

// MaxIncidents bounds one read of incidents: a report's period or the
// whole history.
const MaxIncidents = 5000

// IncidentLimit is limit within 1 and MaxIncidents.
func IncidentLimit(limit int) int { return min(max(limit, 1), MaxIncidents) }

// FloorDiv divides rounding toward negative infinity.
func FloorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// Unrank turns the rank by which backends pick a combined verdict with MAX
// (down > degraded > up > maintenance > unknown) back into a slice.
var Unrank = [...]sla.Slice{sla.SliceUnknown, sla.SliceMaintenance, sla.SliceUp, sla.SliceDegraded, sla.SliceDown}

// RankSQL is the SQL expression of that rank for a status column.
const RankSQL = `CASE status WHEN 3 THEN 4 WHEN 2 THEN 3 WHEN 1 THEN 2 WHEN 4 THEN 1 ELSE 0 END`

// Migration is one versioned schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations lists the files of dir in fsys, named VERSION_what.sql, in
// version order.
func Migrations(fsys fs.FS, dir string) ([]Migration, error) {
	files, err := fs.Glob(fsys, dir+"/*.sql")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, f := range files {
		name := path.Base(f)
		v, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a version number", name)
		}
		body, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("migrations %s and %s share version %d", out[i-1].Name, out[i].Name, out[i].Version)
		}
	}
	return out, nil
}

// DecodeAlert reads an alert stored as JSON with its revision.
func DecodeAlert(body []byte, rev int64) (alerting.Alert, error) {
	var a alerting.Alert
	if err := json.Unmarshal(body, &a); err != nil {
		return a, fmt.Errorf("decode alert: %w", err)
	}
	a.Revision = rev
	return a, nil
}

// Touched returns, in order, the hours and days (by their first minute)
// that minutes fall in: the rollups to recompute once they change.
func Touched(minutes iter.Seq[sla.Minute]) (hours, days []int64) {
	hs, ds := map[int64]bool{}, map[int64]bool{}
	for m := range minutes {
		hs[FloorDiv(int64(m), sla.SpanHour)*sla.SpanHour] = true
		ds[FloorDiv(int64(m), sla.SpanDay)*sla.SpanDay] = true
	}
	return slices.Sorted(maps.Keys(hs)), slices.Sorted(maps.Keys(ds))
}

// Verdicts are what one slicing judged of one check: its minute
// verdicts, the latency events of the same minutes, and the dirty marks
// handled, made up to Seq.
type Verdicts struct {
	Check   string
	Slices  map[sla.Minute]sla.Slice
	Events  LatencyEvents
	Handled []sla.Minute
	Seq     int64
}

// JoinIDs and SplitIDs keep a list of ids (which hold no comma) in one
// column.
func JoinIDs(ids []string) string { return strings.Join(ids, ",") }

// SplitIDs reads a list JoinIDs wrote; empty is none.
func SplitIDs(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

// LegacyIncident fills what an incident opened before incidents had
// several components and checks lacks: its one component, and the check
// its alert key names.
func LegacyIncident(in *Incident) {
	if len(in.Components) == 0 && in.Component != "" {
		in.Components = []string{in.Component}
	}
	if len(in.Checks) == 0 {
		if _, check, ok := strings.Cut(in.AlertKey, ":"); ok && !strings.HasPrefix(in.AlertKey, "group:") {
			in.Checks = []string{check}
		}
	}
}

// ImpactRank orders incident impacts: a revision by nines never lowers
// one.
var ImpactRank = map[string]int{"none": 0, "minor": 1, "major": 2, "critical": 3}

// IncidentText is the part of a stored incident a revision changes, as
// its columns hold it.
type IncidentText struct {
	Title, Impact, Component, Components, Checks, EditedBy string
}

// Revise applies r to an incident (resolved: closed already), as
// ReviseIncident does on every backend, and reports whether it changed.
func (t IncidentText) Revise(r IncidentRevision, resolved bool) (IncidentText, bool) {
	next := t
	if r.By == "" {
		if resolved {
			return t, false
		}
		if t.EditedBy == "" {
			if r.Title != "" {
				next.Title = r.Title
			}
			if r.Impact != "" && ImpactRank[r.Impact] > ImpactRank[t.Impact] {
				next.Impact = r.Impact
			}
		}
	} else {
		if r.Title != "" {
			next.Title = r.Title
		}
		if r.Impact != "" {
			next.Impact = r.Impact
		}
		next.EditedBy = r.By
	}
	if len(r.Components) > 0 {
		next.Components, next.Component = JoinIDs(r.Components), r.Components[0]
	}
	if len(r.Checks) > 0 {
		next.Checks = JoinIDs(r.Checks)
	}
	return next, next != t
}

// Screenshot is the picture of a page a failed browser check run took:
// its result's key and message, and the image (a JPEG).
type Screenshot struct {
	Check     string
	Region    string
	Scheduled time.Time
	Message   string
	Image     []byte
}

// KeptScreenshots is how many screenshots of each check are kept.
const KeptScreenshots = 20
