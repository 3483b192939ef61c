// Package alerting turns verdicts into alerts and alerts into notifications:
// rules, the alert lifecycle (pending, firing, acknowledged, resolved),
// escalation policies, maintenance silencing, and a transactional outbox
// whose dispatcher delivers with retry and backoff.
package alerting

import (
	"time"

	"github.com/nines-sre/nines/config"
)

// State is where an alert is in its lifecycle.
type State string

// Alert states.
const (
	StatePending      State = "pending"
	StateFiring       State = "firing"
	StateAcknowledged State = "acknowledged"
	StateResolved     State = "resolved"
)

// Alert is one incident of one condition. Its Key is stable (rule and
// subject), so a resend after a crash reaches the same incident.
type Alert struct {
	Key       string `json:"key"`
	Rule      string `json:"rule"`
	Subject   string `json:"subject"`
	Incident  int64  `json:"incident"` // increases each time the key fires anew
	State     State  `json:"state"`
	Severity  string `json:"severity"`
	Urgency   string `json:"urgency"`
	Policy    string `json:"policy"`
	Summary   string `json:"summary"`
	Component string `json:"component,omitempty"`
	Class     string `json:"class,omitempty"`
	// Details go to every notification (failing regions, error classes...).
	Details map[string]any `json:"details,omitempty"`

	PendingSince time.Time  `json:"pending_since"`
	FiredAt      *time.Time `json:"fired_at,omitempty"`
	AckedAt      *time.Time `json:"acknowledged_at,omitempty"`
	AckedBy      string     `json:"acknowledged_by,omitempty"`
	ResolvedAt   *time.Time `json:"resolved_at,omitempty"`
	// GoodSince is when the condition was last seen gone; the alert
	// resolves once it stays gone for the rule's resolve_after.
	GoodSince *time.Time `json:"good_since,omitempty"`
	// Level is the escalation level reached (0-based) and Round the pass
	// through the policy (repeat); NextEscalation is when the next level is
	// due while unacknowledged.
	Level          int        `json:"level"`
	Round          int        `json:"round"`
	NextEscalation *time.Time `json:"next_escalation_at,omitempty"`
	// LevelAt is when the current level was notified: the delay to the
	// next level counts from when its notifications were delivered.
	LevelAt *time.Time `json:"level_at,omitempty"`
	// Notified lists every notifier that received a trigger, so each one
	// receives the acknowledge and the resolve.
	Notified []string `json:"notified,omitempty"`
	// Group is, for an alert a rule raised, the key of the group it
	// notifies through while it fires (see Group). An alert of a rule
	// never notifies on its own; its group does.
	Group string `json:"group,omitempty"`
	// Failing and Regions are, for a check's alert, the regions failing
	// now of those it runs in; Heartbeat marks a push check's; Region is
	// the region a regional or silence alert is about; Cause, the alert
	// whose group a burn joined because its checks page.
	Failing   []string `json:"failing_regions,omitempty"`
	Regions   int      `json:"regions,omitempty"`
	Heartbeat bool     `json:"heartbeat,omitempty"`
	Region    string   `json:"region,omitempty"`
	Cause     string   `json:"cause,omitempty"`
	// Members are, for a group, the alerts of its current incident:
	// those failing now and those that recovered while it stayed open.
	Members []Member `json:"members,omitempty"`
	// Updated is, for a group, when its notifiers were last told; Stale
	// is set when its members changed since, and an update is owed once
	// the group interval has passed.
	Updated *time.Time `json:"updated_at,omitempty"`
	Stale   bool       `json:"stale,omitempty"`
	// Revision counts the saves of this key; a save based on an older
	// revision than the stored one fails with ErrConflict, so that an
	// acknowledgement and a rule evaluation (on this controller or another
	// replica) never overwrite each other.
	Revision int64 `json:"-"`
}

// IsGroup reports whether a is a group (a notification stream) rather
// than the alert of a rule.
func (a *Alert) IsGroup() bool { return a.Rule == config.GroupRule }

// Member is one alert of a group's incident, as the group tells of it.
type Member struct {
	Key       string `json:"key"`
	Rule      string `json:"rule"`
	Class     string `json:"class"`
	Subject   string `json:"subject"`
	Summary   string `json:"summary"`
	Component string `json:"component,omitempty"`
	Severity  string `json:"severity"`
	Urgency   string `json:"urgency"`
	// Failing are the regions failing now, of Regions; Peak is the most
	// that failed at once while it was a member.
	Failing []string `json:"failing_regions,omitempty"`
	Regions int      `json:"regions,omitempty"`
	Peak    int      `json:"peak_regions,omitempty"`
	// Since is when it fired; Recovered when its alert resolved (nil
	// while it is open); Holding whether its condition holds now (an
	// open alert whose condition is gone is waiting out resolve_after).
	Since     time.Time  `json:"since"`
	Recovered *time.Time `json:"recovered_at,omitempty"`
	Holding   bool       `json:"holding"`
	// Cause is the alert that this one joined the group for: a burn
	// whose budget the paging checks spend.
	Cause string `json:"cause,omitempty"`
	// Heartbeat is set for a push check: its summary tells what its job
	// did, not what regions saw.
	Heartbeat bool `json:"heartbeat,omitempty"`
}

// Action is what a notification does to the incident at the notifier.
type Action string

// Notification actions.
const (
	ActionTrigger     Action = "trigger"
	ActionAcknowledge Action = "acknowledge"
	ActionResolve     Action = "resolve"
)

// Message is what a notifier sends.
type Message struct {
	AlertKey  string         `json:"alert_key"`
	Incident  int64          `json:"incident"`
	Action    Action         `json:"action"`
	Severity  string         `json:"severity"`
	Urgency   string         `json:"urgency"`
	Summary   string         `json:"summary"`
	Source    string         `json:"source"`
	Component string         `json:"component,omitempty"`
	Group     string         `json:"group,omitempty"`
	Class     string         `json:"class,omitempty"`
	Details   map[string]any `json:"details,omitempty"`
	Link      string         `json:"link,omitempty"`
	Level     int            `json:"level"`
	At        time.Time      `json:"at"`
	// Update is set on a trigger that tells an open incident of checks
	// that joined or recovered: the notifier's incident is the same.
	Update bool `json:"update,omitempty"`
}

// Notification is one message to one notifier in the outbox.
type Notification struct {
	ID        int64      `json:"id"`
	Notifier  string     `json:"notifier"`
	Message   Message    `json:"message"`
	CreatedAt time.Time  `json:"created_at"`
	Attempts  int        `json:"attempts"`
	NextAt    time.Time  `json:"next_attempt_at"`
	Delivered *time.Time `json:"delivered_at,omitempty"`
	Failed    *time.Time `json:"failed_at,omitempty"`
	LastError string     `json:"last_error,omitempty"`
}

// Attempt is one delivery try of a notification.
type Attempt struct {
	At      time.Time `json:"at"`
	Outcome string    `json:"outcome"` // delivered, retry, failed
	Error   string    `json:"error,omitempty"`
}
