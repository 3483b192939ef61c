package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO incidents (alert_key, alert_seq, component, components, checks, title, status, impact, started_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, 'investigating', $7, $8, $8) ON CONFLICT (alert_key, alert_seq) DO NOTHING RETURNING id`,
			o.AlertKey, o.AlertSeq, first, store.JoinIDs(o.Components), store.JoinIDs(o.Checks), o.Title, o.Impact, o.At.UnixMilli()).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return tx.QueryRow(ctx, `SELECT id FROM incidents WHERE alert_key = $1 AND alert_seq = $2`, o.AlertKey, o.AlertSeq).Scan(&id)
		}
		if err != nil {
			return err
		}
		opened = true
		_, err = tx.Exec(ctx, `INSERT INTO incident_updates (incident_id, at, status, body, author, affected) VALUES ($1, $2, 'investigating', $3, 'nines', $4)`,
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
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var cur store.IncidentText
		var resolved *int64
		err := tx.QueryRow(ctx, `SELECT title, impact, component, components, checks, edited_by, resolved_at FROM incidents WHERE id = $1 FOR UPDATE`, id).
			Scan(&cur.Title, &cur.Impact, &cur.Component, &cur.Components, &cur.Checks, &cur.EditedBy, &resolved)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("incident %d: %w", id, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		next, ok := cur.Revise(r, resolved != nil)
		if !ok {
			return nil
		}
		changed = true
		_, err = tx.Exec(ctx, `UPDATE incidents SET title = $1, impact = $2, component = $3, components = $4, checks = $5, edited_by = $6,
			updated_at = GREATEST(updated_at, $7) WHERE id = $8`, next.Title, next.Impact, next.Component, next.Components, next.Checks, next.EditedBy, r.At.UnixMilli(), id)
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
	var resolved *int64
	at := u.At.UnixMilli()
	if u.Status == "resolved" {
		resolved = &at
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE incidents SET status = $1, resolved_at = COALESCE(resolved_at, $2), updated_at = GREATEST(updated_at, $3) WHERE id = $4`,
			u.Status, resolved, at, id)
		if err != nil {
			return fmt.Errorf("update incident %d: %w", id, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("incident %d: %w", id, store.ErrNotFound)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO incident_updates (incident_id, at, status, body, author, affected) VALUES ($1, $2, $3, $4, $5, $6)`,
			id, at, u.Status, u.Body, u.Author, store.EncodeAffected(u.Affected)); err != nil {
			return fmt.Errorf("update incident %d: %w", id, err)
		}
		return nil
	})
}

// Announce records when announced maintenance windows were first shown
// (store.Store).
func (s *Store) Announce(ctx context.Context, ids []string, at time.Time) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	if len(ids) == 0 {
		return out, nil
	}
	if !at.IsZero() {
		if _, err := s.pool.Exec(ctx, `INSERT INTO announcements (id, announced_at) SELECT unnest($1::text[]), $2 ON CONFLICT (id) DO NOTHING`,
			ids, at.UnixMilli()); err != nil {
			return nil, fmt.Errorf("announce maintenance: %w", err)
		}
	}
	rows, err := s.pool.Query(ctx, `SELECT id, announced_at FROM announcements WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("announce maintenance: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var ms int64
		if err := rows.Scan(&id, &ms); err != nil {
			return nil, fmt.Errorf("announce maintenance: %w", err)
		}
		out[id] = time.UnixMilli(ms).UTC()
	}
	return out, rows.Err()
}

// IncidentForAlert returns the incident of an alert's firing, if any, and
// whether it is open.
func (s *Store) IncidentForAlert(ctx context.Context, alertKey string, alertSeq int64) (int64, bool, error) {
	var id int64
	var resolved *int64
	err := s.pool.QueryRow(ctx, `SELECT id, resolved_at FROM incidents WHERE alert_key = $1 AND alert_seq = $2`, alertKey, alertSeq).Scan(&id, &resolved)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("incident of %s: %w", alertKey, err)
	}
	return id, resolved == nil, nil
}

// Incidents returns the incidents open now, then those started since
// since, at most limit, newest first, with their updates, in two queries.
func (s *Store) Incidents(ctx context.Context, since time.Time, limit int) ([]store.Incident, error) {
	return s.incidents(ctx, `id IN (SELECT id FROM incidents WHERE resolved_at IS NULL OR started_at >= $1
		ORDER BY resolved_at IS NULL DESC, started_at DESC LIMIT $2) ORDER BY started_at DESC`, since.UnixMilli(), store.IncidentLimit(limit))
}

// IncidentByID returns one incident with its updates; nil when there is
// none.
func (s *Store) IncidentByID(ctx context.Context, id int64) (*store.Incident, error) {
	out, err := s.incidents(ctx, `id = $1`, id)
	if err != nil || len(out) == 0 {
		return nil, err
	}
	return &out[0], nil
}

func (s *Store) incidents(ctx context.Context, where string, args ...any) ([]store.Incident, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, alert_key, component, components, checks, edited_by, title, status, impact, started_at, resolved_at, updated_at FROM incidents
		WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("read incidents: %w", err)
	}
	var updated []int64
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Incident, error) {
		var in store.Incident
		var started int64
		var resolved *int64
		var components, checks string
		var upd int64
		err := r.Scan(&in.ID, &in.AlertKey, &in.Component, &components, &checks, &in.EditedBy, &in.Title, &in.Status, &in.Impact, &started, &resolved, &upd)
		updated = append(updated, upd)
		in.StartedAt, in.ResolvedAt = time.UnixMilli(started).UTC(), timeOrNil(resolved)
		in.Components, in.Checks = store.SplitIDs(components), store.SplitIDs(checks)
		store.LegacyIncident(&in)
		return in, err
	})
	if err != nil || len(out) == 0 {
		return out, err
	}
	ids := make([]int64, len(out))
	at := map[int64]int{}
	for i, in := range out {
		ids[i], at[in.ID] = in.ID, i
	}
	ur, err := s.pool.Query(ctx, `SELECT incident_id, at, status, body, author, affected FROM incident_updates WHERE incident_id = ANY($1) ORDER BY incident_id, at DESC`, ids)
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
