package store

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/nines-sre/nines/alerting"
)

// MaxAlertEvents bounds the events the alert rules read at once.
const MaxAlertEvents = 1000

// AlertEventColumns are the columns AlertEventRows reads, in its order.
const AlertEventColumns = `rule_id, key, summary, link, details, count, first_at, last_at, resolved_at`

// EventDetails is how an event's details are stored: a JSON object.
func EventDetails(d map[string]string) string {
	if len(d) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(d) // a map of strings always marshals
	return string(b)
}

// AlertEventRows reads every row of AlertEventColumns.
func AlertEventRows(rows Rows) ([]alerting.Event, error) {
	var out []alerting.Event
	for rows.Next() {
		e, err := scanAlertEvent(rows.Scan)
		if err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return out, nil
}

// scanAlertEvent reads a row of AlertEventColumns.
func scanAlertEvent(scan func(dest ...any) error) (alerting.Event, error) {
	var e alerting.Event
	var details string
	var first, last int64
	var resolved *int64
	if err := scan(&e.Rule, &e.Key, &e.Summary, &e.Link, &details, &e.Count, &first, &last, &resolved); err != nil {
		return e, err
	}
	if details != "{}" {
		_ = json.Unmarshal([]byte(details), &e.Details) // written by EventDetails
	}
	e.FirstAt, e.LastAt = time.UnixMilli(first).UTC(), time.UnixMilli(last).UTC()
	if resolved != nil {
		t := time.UnixMilli(*resolved).UTC()
		e.ResolvedAt = &t
	}
	return e, nil
}
