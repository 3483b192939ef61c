package events

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Store is what the consumer made of the events: each event's id once,
// renders and impressions per minute, errors grouped by fingerprint.
type Store struct {
	db *sql.DB
}

const schema = `
CREATE TABLE IF NOT EXISTS processed (id TEXT PRIMARY KEY, at_ms INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS processed_at ON processed (at_ms);
CREATE TABLE IF NOT EXISTS renders (minute INTEGER NOT NULL, country TEXT NOT NULL, level TEXT NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY (minute, country, level)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS impressions (minute INTEGER NOT NULL, content TEXT NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY (minute, content)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS error_groups (fingerprint TEXT PRIMARY KEY, message TEXT NOT NULL, frames TEXT NOT NULL,
  count INTEGER NOT NULL, first_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL, sdk TEXT NOT NULL, browser TEXT NOT NULL,
  component TEXT NOT NULL, sample TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS error_outbox (fingerprint TEXT PRIMARY KEY, at_ms INTEGER NOT NULL) WITHOUT ROWID;
`

// OpenStore opens (creating if needed) the consumer's database at path.
func OpenStore(ctx context.Context, path string) (*Store, error) {
	db, err := openSQLite(path)
	if err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create the event tables in %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Outcome is what processing a batch did.
type Outcome struct {
	// New are the events processed for the first time; Duplicates how
	// many had been already.
	New        []Event
	Duplicates int
	// NewGroups are the error fingerprints first seen in the batch.
	NewGroups []ErrorGroup
}

// Process applies evs in one transaction, each event whose id is new: a
// batch handed again (a redelivery, a client's retry) changes nothing
// it already did. at is when it is processed.
func (s *Store) Process(ctx context.Context, evs []Event, at time.Time) (Outcome, error) {
	var out Outcome
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		out = Outcome{}
		for i := range evs {
			e := &evs[i]
			res, err := tx.ExecContext(ctx, `INSERT INTO processed (id, at_ms) VALUES (?, ?) ON CONFLICT DO NOTHING`, e.ID, at.UnixMilli())
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				out.Duplicates++
				continue
			}
			out.New = append(out.New, *e)
			minute := e.At.Truncate(time.Minute).Unix()
			switch {
			case e.Render != nil:
				_, err = tx.ExecContext(ctx, `INSERT INTO renders (minute, country, level, n) VALUES (?, ?, ?, 1)
					ON CONFLICT DO UPDATE SET n = n + 1`, minute, e.Country, e.Render.Level)
			case e.Impression != nil:
				_, err = tx.ExecContext(ctx, `INSERT INTO impressions (minute, content, n) VALUES (?, ?, 1)
					ON CONFLICT DO UPDATE SET n = n + 1`, minute, e.Impression.Content)
			case e.Error != nil:
				var g *ErrorGroup
				if g, err = group(ctx, tx, e, at); err == nil && g != nil {
					out.NewGroups = append(out.NewGroups, *g)
				}
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("process %d events: %w", len(evs), err)
	}
	return out, nil
}

// group counts an error in its fingerprint's group; it returns the group
// when the fingerprint is new.
func group(ctx context.Context, tx *sql.Tx, e *Event, at time.Time) (*ErrorGroup, error) {
	fp, frames := Fingerprint(e.Error.Message, e.Error.Stack)
	res, err := tx.ExecContext(ctx, `UPDATE error_groups SET count = count + 1, last_ms = max(last_ms, ?), sdk = ?, browser = ?
		WHERE fingerprint = ?`, e.At.UnixMilli(), e.SDK, e.Error.Browser, fp)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return nil, nil
	}
	g := ErrorGroup{Fingerprint: fp, Message: e.Error.Message, Frames: frames, Count: 1, FirstSeen: e.At.UTC(), LastSeen: e.At.UTC(),
		SDK: e.SDK, Browser: e.Error.Browser, Component: e.Error.Component, Sample: e.Error.Stack}
	_, err = tx.ExecContext(ctx, `INSERT INTO error_groups (fingerprint, message, frames, count, first_ms, last_ms, sdk, browser, component, sample)
		VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?)`, fp, g.Message, strings.Join(frames, "\n"), g.FirstSeen.UnixMilli(), g.LastSeen.UnixMilli(),
		g.SDK, g.Browser, g.Component, g.Sample)
	if err != nil {
		return nil, err
	}
	// A new fingerprint is announced (Unannounced) until told (Announced).
	_, err = tx.ExecContext(ctx, `INSERT INTO error_outbox (fingerprint, at_ms) VALUES (?, ?) ON CONFLICT DO NOTHING`, fp, at.UnixMilli())
	return &g, err
}

// Unannounced returns up to limit error groups whose fingerprint is new
// and not yet announced, the oldest first.
func (s *Store) Unannounced(ctx context.Context, limit int) ([]ErrorGroup, error) {
	return s.errorGroups(ctx, `SELECT `+groupColumns+` FROM error_outbox o JOIN error_groups g USING (fingerprint)
		ORDER BY o.at_ms, o.fingerprint LIMIT ?`, limit)
}

// Announced takes a fingerprint off what waits to be announced.
func (s *Store) Announced(ctx context.Context, fingerprint string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM error_outbox WHERE fingerprint = ?`, fingerprint); err != nil {
		return fmt.Errorf("mark %s announced: %w", fingerprint, err)
	}
	return nil
}

// ErrorGroup is the errors of one fingerprint.
type ErrorGroup struct {
	Fingerprint string    `json:"fingerprint"`
	Message     string    `json:"message"`
	Frames      []string  `json:"frames"`
	Count       int       `json:"count"`
	FirstSeen   time.Time `json:"first_seen"`
	LastSeen    time.Time `json:"last_seen"`
	SDK         string    `json:"sdk"`
	Browser     string    `json:"browser"`
	Component   string    `json:"component,omitempty"`
	Sample      string    `json:"sample"`
}

// groupColumns are what errorGroups reads of a group (g: error_groups).
const groupColumns = `g.fingerprint, g.message, g.frames, g.count, g.first_ms, g.last_ms, g.sdk, g.browser, g.component, g.sample`

// ErrorGroups lists the groups, the most recently seen first.
func (s *Store) ErrorGroups(ctx context.Context) ([]ErrorGroup, error) {
	return s.errorGroups(ctx, `SELECT `+groupColumns+` FROM error_groups g ORDER BY g.last_ms DESC LIMIT 500`)
}

func (s *Store) errorGroups(ctx context.Context, q string, args ...any) ([]ErrorGroup, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read error groups: %w", err)
	}
	defer rows.Close()
	var out []ErrorGroup
	for rows.Next() {
		var g ErrorGroup
		var frames string
		var first, last int64
		if err := rows.Scan(&g.Fingerprint, &g.Message, &frames, &g.Count, &first, &last, &g.SDK, &g.Browser, &g.Component, &g.Sample); err != nil {
			return nil, fmt.Errorf("read error groups: %w", err)
		}
		g.Frames = strings.Split(frames, "\n")
		g.FirstSeen, g.LastSeen = time.UnixMilli(first).UTC(), time.UnixMilli(last).UTC()
		out = append(out, g)
	}
	return out, rows.Err()
}

// RenderCounts are one minute's renders: good (fresh or cached) of valid.
type RenderCounts struct {
	Minute      time.Time
	Good, Valid int64
}

// Renders sums the renders of the minutes in [from, to) (of country only,
// when given), minute by minute, oldest first.
func (s *Store) Renders(ctx context.Context, from, to time.Time, country string) ([]RenderCounts, error) {
	q := `SELECT minute, SUM(CASE WHEN level IN ('fresh', 'cached') THEN n ELSE 0 END), SUM(n) FROM renders
		WHERE minute >= ? AND minute < ?`
	args := []any{from.Unix(), to.Unix()}
	if country != "" {
		q += ` AND country = ?`
		args = append(args, country)
	}
	rows, err := s.db.QueryContext(ctx, q+` GROUP BY minute ORDER BY minute`, args...)
	if err != nil {
		return nil, fmt.Errorf("read renders: %w", err)
	}
	defer rows.Close()
	var out []RenderCounts
	for rows.Next() {
		var c RenderCounts
		var m int64
		if err := rows.Scan(&m, &c.Good, &c.Valid); err != nil {
			return nil, fmt.Errorf("read renders: %w", err)
		}
		c.Minute = time.Unix(m, 0).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// Processed is how many distinct events were processed, by type.
func (s *Store) Processed(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	for typ, q := range map[string]string{TypeRender: `SELECT COALESCE(SUM(n), 0) FROM renders`,
		TypeImpression: `SELECT COALESCE(SUM(n), 0) FROM impressions`, TypeError: `SELECT COALESCE(SUM(count), 0) FROM error_groups`} {
		var n int64
		if err := s.db.QueryRowContext(ctx, q).Scan(&n); err != nil {
			return nil, fmt.Errorf("count processed events: %w", err)
		}
		out[typ] = n
	}
	return out, nil
}

// Prune forgets the ids of events processed before before: an event
// older than MaxSkew is refused at the intake, so its retries cannot
// come back after that.
func (s *Store) Prune(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM processed WHERE at_ms < ?`, before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("prune processed ids: %w", err)
	}
	return res.RowsAffected()
}

func inTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	return tx.Commit()
}

var (
	// Numbers, hex ids and quoted strings vary between errors of one
	// cause; line and column numbers and query strings between builds.
	varying  = regexp.MustCompile(`"[^"]*"|'[^']*'|\b0x[0-9a-fA-F]+\b|\b\d+\b`)
	location = regexp.MustCompile(`(\?[^\s:)]*)?(:\d+){1,2}\)?$`)
	origin   = regexp.MustCompile(`https?://[^/\s]+`)
)

// Fingerprint groups errors of one cause: the message with its varying
// parts taken out, and the stack's top three frames without their
// origins, lines and columns. It returns the fingerprint and the frames.
func Fingerprint(message, stack string) (string, []string) {
	var frames []string
	for _, line := range strings.Split(stack, "\n") {
		// Frames: "at f (url:line:col)" (Chromium) or "f@url:line:col"
		// (Firefox, Safari); the first line of Chromium's is the message.
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "at ") && !strings.Contains(line, "@") {
			continue
		}
		line = origin.ReplaceAllString(location.ReplaceAllString(strings.TrimPrefix(line, "at "), ""), "")
		frames = append(frames, strings.TrimSuffix(strings.TrimSpace(line), "("))
		if len(frames) == 3 {
			break
		}
	}
	h := sha256.New()
	h.Write([]byte(varying.ReplaceAllString(message, "_")))
	for _, f := range frames {
		h.Write([]byte("\n" + f))
	}
	return hex.EncodeToString(h.Sum(nil))[:16], frames
}
