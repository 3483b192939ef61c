package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/nines-sre/nines/controller/store"
)

// PutScreenshot keeps s, and of its check only the newest kept.
func (s *Store) PutScreenshot(ctx context.Context, sh store.Screenshot) error {
	_, err := s.exec(ctx, `INSERT INTO screenshots (check_id, region, scheduled_ms, message, image) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`, sh.Check, sh.Region, sh.Scheduled.UnixMilli(), sh.Message, sh.Image)
	if err == nil {
		_, err = s.exec(ctx, `DELETE FROM screenshots WHERE check_id = ? AND (scheduled_ms, region) NOT IN
			(SELECT scheduled_ms, region FROM screenshots WHERE check_id = ? ORDER BY scheduled_ms DESC, region LIMIT ?)`,
			sh.Check, sh.Check, store.KeptScreenshots)
	}
	if err != nil {
		return fmt.Errorf("keep the screenshot of %s: %w", sh.Check, err)
	}
	return nil
}

// Screenshots lists check's, newest first, without their images.
func (s *Store) Screenshots(ctx context.Context, check string) ([]store.Screenshot, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT region, scheduled_ms, message FROM screenshots WHERE check_id = ?
		ORDER BY scheduled_ms DESC, region`, check)
	if err != nil {
		return nil, fmt.Errorf("read screenshots of %s: %w", check, err)
	}
	defer rows.Close()
	var out []store.Screenshot
	for rows.Next() {
		sh := store.Screenshot{Check: check}
		var ms int64
		if err := rows.Scan(&sh.Region, &ms, &sh.Message); err != nil {
			return nil, fmt.Errorf("read screenshots of %s: %w", check, err)
		}
		sh.Scheduled = time.UnixMilli(ms).UTC()
		out = append(out, sh)
	}
	return out, rows.Err()
}

// ScreenshotImage is one kept image, nil when there is none.
func (s *Store) ScreenshotImage(ctx context.Context, check, region string, scheduled time.Time) ([]byte, error) {
	var img []byte
	err := s.db.QueryRowContext(ctx, `SELECT image FROM screenshots WHERE check_id = ? AND region = ? AND scheduled_ms = ?`,
		check, region, scheduled.UnixMilli()).Scan(&img)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read a screenshot of %s: %w", check, err)
	}
	return img, nil
}
