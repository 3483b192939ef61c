package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nines-sre/nines/controller/store"
)

// OpenIncident opens the incident of an alert's firing (once per alert
// incident number) with a first update; it returns the incident id and
// whether this call opened it.
func (s *Store) OpenIncident(ctx context.Context, o store.IncidentOpening) (int64, bool, error) {
	var id int64
	opened := false
	first := ""
	if len(o.Components) > 0 {
		first = o.Components[0]
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO incidents (alert_key, alert_seq, component, components, checks, title, status, impact, started_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, 'investigating', ?, ?, ?)`, o.AlertKey, o.AlertSeq, first, store.JoinIDs(o.Components), store.JoinIDs(o.Checks),
			o.Title, o.Impact, o.At.UnixMilli(), o.At.UnixMilli())
		if err != nil {
			return fmt.Errorf("open incident: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return tx.QueryRowContext(ctx, `SELECT id FROM incidents WHERE alert_key = ? AND alert_seq = ?`, o.AlertKey, o.AlertSeq).Scan(&id)
		}
		id, _ = res.LastInsertId()
		opened = true
		_, err = tx.ExecContext(ctx, `INSERT INTO incident_updates (incident_id, at, status, body, author, affected) VALUES (?, ?, 'investigating', ?, 'nines', ?)`,
			id, o.At.UnixMilli(), o.Body, store.EncodeAffected(o.Affected))
		return err
	})
	if err != nil {
		return 0, false, fmt.Errorf("open incident of %s: %w", o.AlertKey, err)
	}
	return id, opened, nil
}

// ReviseIncident changes an incident's description (store.Store).
func (s *Store) ReviseIncident(ctx context.Context, id int64, r store.IncidentRevision) (bool, error) {
	changed := false
	err := s.write(ctx, func(tx *sql.Tx) error {
		var cur store.IncidentText
		var resolved sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT title, impact, component, components, checks, edited_by, resolved_at FROM incidents WHERE id = ?`, id).
			Scan(&cur.Title, &cur.Impact, &cur.Component, &cur.Components, &cur.Checks, &cur.EditedBy, &resolved)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("incident %d: %w", id, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		next, ok := cur.Revise(r, resolved.Valid)
		if !ok {
			return nil
		}
		changed = true
		_, err = tx.ExecContext(ctx, `UPDATE incidents SET title = ?, impact = ?, component = ?, components = ?, checks = ?, edited_by = ?,
			updated_at = MAX(updated_at, ?) WHERE id = ?`, next.Title, next.Impact, next.Component, next.Components, next.Checks, next.EditedBy, r.At.UnixMilli(), id)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("revise incident %d: %w", id, err)
	}
	return changed, nil
}

// AddIncidentUpdate appends an update and sets the incident's status;
// "resolved" closes it.
func (s *Store) AddIncidentUpdate(ctx context.Context, id int64, u store.IncidentUpdate) error {
	var resolved any
	if u.Status == "resolved" {
		resolved = u.At.UnixMilli()
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE incidents SET status = ?, resolved_at = COALESCE(resolved_at, ?), updated_at = MAX(updated_at, ?) WHERE id = ?`,
			u.Status, resolved, u.At.UnixMilli(), id)
		if err != nil {
			return fmt.Errorf("update incident %d: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("incident %d: %w", id, store.ErrNotFound)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO incident_updates (incident_id, at, status, body, author, affected) VALUES (?, ?, ?, ?, ?, ?)`,
			id, u.At.UnixMilli(), u.Status, u.Body, u.Author, store.EncodeAffected(u.Affected))
		return err
	})
}

// Announce records when announced maintenance windows were first shown
// (store.Store).
func (s *Store) Announce(ctx context.Context, ids []string, at time.Time) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	if len(ids) == 0 {
		return out, nil
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		args := make([]any, len(ids))
		for i, id := range ids {
			args[i] = id
			if at.IsZero() {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO announcements (id, announced_at) VALUES (?, ?)`, id, at.UnixMilli()); err != nil {
				return err
			}
		}
		rows, err := tx.QueryContext(ctx, `SELECT id, announced_at FROM announcements WHERE id IN (?`+strings.Repeat(",?", len(ids)-1)+`)`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var ms int64
			if err := rows.Scan(&id, &ms); err != nil {
				return err
			}
			out[id] = time.UnixMilli(ms).UTC()
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("announce maintenance: %w", err)
	}
	return out, nil
}

// IncidentForAlert returns the open incident of an alert's firing, if any.
func (s *Store) IncidentForAlert(ctx context.Context, alertKey string, alertSeq int64) (int64, bool, error) {
	var id int64
	var resolved sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT id, resolved_at FROM incidents WHERE alert_key = ? AND alert_seq = ?`, alertKey, alertSeq).Scan(&id, &resolved)
	if err == sql.ErrNoRows {
		return 0, false, nil
	}
	return id, err == nil && !resolved.Valid, err
}

// Incidents returns the incidents open now, then those started since
// since, at most limit, newest first, with their updates, in two queries.
func (s *Store) Incidents(ctx context.Context, since time.Time, limit int) ([]store.Incident, error) {
	return s.incidents(ctx, `id IN (SELECT id FROM incidents WHERE resolved_at IS NULL OR started_at >= ?
		ORDER BY resolved_at IS NULL DESC, started_at DESC LIMIT ?) ORDER BY started_at DESC`, since.UnixMilli(), store.IncidentLimit(limit))
}

// IncidentByID returns one incident with its updates; nil when there is
// none.
func (s *Store) IncidentByID(ctx context.Context, id int64) (*store.Incident, error) {
	out, err := s.incidents(ctx, `id = ?`, id)
	if err != nil || len(out) == 0 {
		return nil, err
	}
	return &out[0], nil
}

func (s *Store) incidents(ctx context.Context, where string, args ...any) ([]store.Incident, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, alert_key, component, components, checks, edited_by, title, status, impact, started_at, resolved_at, updated_at FROM incidents
		WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("read incidents: %w", err)
	}
	var out []store.Incident
	var updated []int64
	for rows.Next() {
		var in store.Incident
		var started int64
		var resolved sql.NullInt64
		var components, checks string
		var upd int64
		if err := rows.Scan(&in.ID, &in.AlertKey, &in.Component, &components, &checks, &in.EditedBy, &in.Title, &in.Status, &in.Impact, &started, &resolved, &upd); err != nil {
			rows.Close()
			return nil, err
		}
		in.Components, in.Checks = store.SplitIDs(components), store.SplitIDs(checks)
		store.LegacyIncident(&in)
		in.StartedAt = time.UnixMilli(started).UTC()
		if resolved.Valid {
			t := time.UnixMilli(resolved.Int64).UTC()
			in.ResolvedAt = &t
		}
		out = append(out, in)
		updated = append(updated, upd)
	}
	rows.Close()
	if len(out) == 0 {
		return out, nil
	}
	ids := make([]any, len(out))
	at := map[int64]int{}
	for i, in := range out {
		ids[i], at[in.ID] = in.ID, i
	}
	ur, err := s.db.QueryContext(ctx, `SELECT incident_id, at, status, body, author, affected FROM incident_updates
		WHERE incident_id IN (?`+strings.Repeat(",?", len(ids)-1)+`) ORDER BY incident_id, at DESC`, ids...)
	if err != nil {
		return nil, fmt.Errorf("read incident updates: %w", err)
	}
	defer ur.Close()
	for ur.Next() {
		var id, ms int64
		var u store.IncidentUpdate
		var affected string
		if err := ur.Scan(&id, &ms, &u.Status, &u.Body, &u.Author, &affected); err != nil {
			return nil, fmt.Errorf("read incident updates: %w", err)
		}
		u.At, u.Affected = time.UnixMilli(ms).UTC(), store.DecodeAffected(affected)
		out[at[id]].Updates = append(out[at[id]].Updates, u)
	}
	if err := ur.Err(); err != nil {
		return nil, fmt.Errorf("read incident updates: %w", err)
	}
	for i := range out {
		store.IncidentUpdatedAt(&out[i], updated[i])
	}
	return out, nil
}
