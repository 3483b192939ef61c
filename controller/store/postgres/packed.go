package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/klauspost/compress/zstd"
)

// Closed days of raw results are packed: a day partition that no probe
// will add to any more becomes one row of results_packed per check and
// region, the day's results varint-encoded and zstd-compressed, and the
// partition is dropped. Reads (Results, Outcomes, CountResults,
// MarkAllDirty) see both layouts alike; a late result for a packed day
// lands in results_default and is folded into its day at the next pack.
// Once packed, raw results are pruned by whole days.

// rawResult is one stored result as its columns hold it.
type rawResult struct {
	check, region, probe, config int64
	sched, lag                   int64
	outcome, class, status       int16
	dur, dns, connect, tls       int64
	ttfb, transfer, bytes        int64
	message                      string
	cert                         *int64
	facts                        []byte
}

// addPacked adds to raw the packed rows that raw lacks (a result stored
// again in a day already packed is in both) and that keep accepts (nil:
// all).
func addPacked(raw, packed []rawResult, keep func(*rawResult) bool) []rawResult {
	if len(packed) == 0 {
		return raw
	}
	seen := make(map[[2]int64]bool, len(raw))
	for _, r := range raw {
		seen[[2]int64{r.region, r.sched}] = true
	}
	for i := range packed {
		if r := &packed[i]; !seen[[2]int64{r.region, r.sched}] && (keep == nil || keep(r)) {
			raw = append(raw, *r)
		}
	}
	return raw
}

// scanRaw reads a row of resultColumns.
func scanRaw(rows pgx.Row) (rawResult, error) {
	var w rawResult
	err := rows.Scan(&w.check, &w.region, &w.sched, &w.probe, &w.config, &w.outcome, &w.class, &w.status, &w.dur, &w.lag,
		&w.dns, &w.connect, &w.tls, &w.ttfb, &w.transfer, &w.bytes, &w.message, &w.cert, &w.facts)
	return w, err
}

// packVersion leads every packed day, for the format to evolve.
const packVersion = 1

var (
	zenc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression), zstd.WithEncoderConcurrency(1))
	zdec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
)

// encodePacked packs the results of one check and region, in scheduled
// order: the scheduled time as a delta from the one before, every other
// column as a varint.
func encodePacked(rs []rawResult) []byte {
	b := []byte{packVersion}
	b = binary.AppendUvarint(b, uint64(len(rs)))
	prev := int64(0)
	for i := range rs {
		r := &rs[i]
		b = binary.AppendVarint(b, r.sched-prev)
		prev = r.sched
		for _, v := range [...]int64{r.probe, r.config, r.lag, int64(r.outcome), int64(r.class), int64(r.status),
			r.dur, r.dns, r.connect, r.tls, r.ttfb, r.transfer, r.bytes} {
			b = binary.AppendVarint(b, v)
		}
		b = binary.AppendUvarint(b, uint64(len(r.message)))
		b = append(b, r.message...)
		if r.cert == nil {
			b = append(b, 0)
		} else {
			b = append(b, 1)
			b = binary.AppendVarint(b, *r.cert)
		}
		if r.facts == nil {
			b = binary.AppendUvarint(b, 0)
		} else {
			b = binary.AppendUvarint(b, uint64(len(r.facts))+1)
			b = append(b, r.facts...)
		}
	}
	return zenc.EncodeAll(b, nil)
}

var errPacked = errors.New("packed results: corrupt")

// decodePacked unpacks what encodePacked made, for check and region.
func decodePacked(data []byte, check, region int64) ([]rawResult, error) {
	b, err := zdec.DecodeAll(data, nil)
	if err != nil {
		return nil, fmt.Errorf("packed results: %w", err)
	}
	if len(b) == 0 || b[0] != packVersion {
		return nil, fmt.Errorf("%w: unknown version", errPacked)
	}
	d := decoder{b: b[1:]}
	n := d.uvarint()
	if d.err != nil {
		return nil, d.err
	}
	if n > uint64(len(b)) {
		return nil, fmt.Errorf("%w: %d results in %d bytes", errPacked, n, len(b))
	}
	out := make([]rawResult, 0, n)
	prev := int64(0)
	for range n {
		r := rawResult{check: check, region: region}
		r.sched = prev + d.varint()
		prev = r.sched
		var outcome, class, status int64
		for _, p := range [...]*int64{&r.probe, &r.config, &r.lag, &outcome, &class, &status,
			&r.dur, &r.dns, &r.connect, &r.tls, &r.ttfb, &r.transfer, &r.bytes} {
			*p = d.varint()
		}
		r.outcome, r.class, r.status = int16(outcome), int16(class), int16(status)
		r.message = string(d.bytes(d.uvarint()))
		if d.byte() == 1 {
			v := d.varint()
			r.cert = &v
		}
		if k := d.uvarint(); k > 0 {
			r.facts = slices.Clone(d.bytes(k - 1))
		}
		if d.err != nil {
			return nil, d.err
		}
		out = append(out, r)
	}
	if len(d.b) > 0 {
		return nil, fmt.Errorf("%w: %d bytes past the last result", errPacked, len(d.b))
	}
	return out, nil
}

// decoder reads varints until the first error, which it keeps.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) varint() int64   { return take(d, binary.Varint) }
func (d *decoder) uvarint() uint64 { return take(d, binary.Uvarint) }

// take reads one varint with read.
func take[T int64 | uint64](d *decoder, read func([]byte) (T, int)) T {
	v, k := read(d.b)
	if k <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[k:]
	return v
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) bytes(n uint64) []byte {
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated", errPacked)
	}
	d.b = nil
}

const dayMS = int64(day / time.Millisecond)

// packedRows returns the packed results of check (of region too, when not
// 0) scheduled in [from, to), Unix ms, in no particular order.
func (s *Store) packedRows(ctx context.Context, check, region, from, to int64) ([]rawResult, error) {
	q := `SELECT region_id, data FROM results_packed WHERE check_id = $1 AND day > $2 AND day < $3`
	args := []any{check, from - dayMS, to}
	if region != 0 {
		q += ` AND region_id = $4`
		args = append(args, region)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("packed results: %w", err)
	}
	type packed struct {
		region int64
		data   []byte
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (packed, error) {
		var p packed
		return p, r.Scan(&p.region, &p.data)
	})
	if err != nil {
		return nil, fmt.Errorf("packed results: %w", err)
	}
	var out []rawResult
	for _, p := range ps {
		rs, err := decodePacked(p.data, check, p.region)
		if err != nil {
			return nil, fmt.Errorf("check %d region %d: %w", check, p.region, err)
		}
		for _, r := range rs {
			if r.sched >= from && r.sched < to {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// PackResults packs the raw results scheduled before the day (UTC) that
// holds before: each day partition wholly before it, then the rows of
// such days in results_default, merged into the days already packed. It
// returns how many results it packed.
func (s *Store) PackResults(ctx context.Context, before time.Time) (int64, error) {
	cutoff := before.UTC().Truncate(day)
	have, err := s.Partitions(ctx)
	if err != nil {
		return 0, err
	}
	var total int64
	names := make([]string, 0, len(have))
	for name := range have {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		d, err := time.Parse("20060102", name[len("results_d"):])
		if err != nil || d.Add(day).After(cutoff) {
			continue
		}
		n, err := s.pack(ctx, name, cutoff, true)
		total += n
		if err != nil {
			return total, err
		}
	}
	n, err := s.pack(ctx, "results_default", cutoff, false)
	return total + n, err
}

// pack moves the rows of table scheduled before cutoff into
// results_packed, one check at a time, merged with what is packed of the
// same days, and then drops table (whole) or deletes those rows from it;
// all in one transaction.
func (s *Store) pack(ctx context.Context, table string, cutoff time.Time, whole bool) (int64, error) {
	var total int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		total = 0
		// Replicas may race to pack the same day: one at a time.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('nines-pack:' || current_schema()))`); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&exists); err != nil || !exists {
			return err
		}
		// Check by check along the primary key, so that no more than one
		// check's rows are held at once.
		rows, err := tx.Query(ctx, `SELECT id FROM checks ORDER BY id`)
		if err != nil {
			return err
		}
		checks, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		for _, check := range checks {
			n, err := packCheck(ctx, tx, table, check, cutoff)
			if err != nil {
				return fmt.Errorf("check %d: %w", check, err)
			}
			total += n
		}
		if whole {
			_, err = tx.Exec(ctx, `DROP TABLE `+table)
		} else {
			_, err = tx.Exec(ctx, `DELETE FROM `+table+` WHERE scheduled < $1`, cutoff.UnixMilli())
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("pack %s: %w", table, err)
	}
	return total, nil
}

// packCheck packs the rows of check in table scheduled before cutoff, by
// region and day, merged with the days already packed (which win over a
// late duplicate).
func packCheck(ctx context.Context, tx pgx.Tx, table string, check int64, cutoff time.Time) (int64, error) {
	rows, err := tx.Query(ctx, `SELECT `+resultColumns+` FROM `+table+` WHERE check_id = $1 AND scheduled < $2
		ORDER BY region_id, scheduled`, check, cutoff.UnixMilli())
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	type key struct{ region, day int64 }
	groups := map[key][]rawResult{}
	var n int64
	for rows.Next() {
		w, err := scanRaw(rows)
		if err != nil {
			rows.Close()
			return 0, err
		}
		k := key{w.region, dayOf(w.sched)}
		groups[k] = append(groups[k], w)
		n++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, nil
	}
	days := make([]int64, 0, len(groups))
	for k := range groups {
		days = append(days, k.day)
	}
	old, err := tx.Query(ctx, `SELECT region_id, day, data FROM results_packed WHERE check_id = $1 AND day = ANY($2)`, check, days)
	if err != nil {
		return 0, err
	}
	for old.Next() {
		var k key
		var data []byte
		if err := old.Scan(&k.region, &k.day, &data); err != nil {
			old.Close()
			return 0, err
		}
		if _, ok := groups[k]; !ok {
			continue
		}
		packed, err := decodePacked(data, check, k.region)
		if err != nil {
			old.Close()
			return 0, err
		}
		groups[k] = mergeRaw(packed, groups[k])
	}
	old.Close()
	if err := old.Err(); err != nil {
		return 0, err
	}
	var (
		regions, counts []int32
		starts          []int64
		data            [][]byte
	)
	for k, g := range groups {
		regions, starts, counts = append(regions, int32(k.region)), append(starts, k.day), append(counts, int32(len(g)))
		data = append(data, encodePacked(g))
	}
	_, err = tx.Exec(ctx, `INSERT INTO results_packed (check_id, region_id, day, n, data)
		SELECT $1, r, d, n, b FROM unnest($2::integer[], $3::bigint[], $4::integer[], $5::bytea[]) AS t(r, d, n, b)
		ON CONFLICT (check_id, region_id, day) DO UPDATE SET n = excluded.n, data = excluded.data`, check, regions, starts, counts, data)
	return n, err
}

// mergeRaw merges two lists of one check and region in scheduled order;
// of two results scheduled alike, the first list's stays.
func mergeRaw(a, b []rawResult) []rawResult {
	out := make([]rawResult, 0, len(a)+len(b))
	i, k := 0, 0
	for i < len(a) || k < len(b) {
		switch {
		case k == len(b) || (i < len(a) && a[i].sched < b[k].sched):
			out = append(out, a[i])
			i++
		case i == len(a) || b[k].sched < a[i].sched:
			out = append(out, b[k])
			k++
		default: // the same time: a duplicate
			out = append(out, a[i])
			i++
			k++
		}
	}
	return out
}

func dayOf(ms int64) int64 { return ms / dayMS * dayMS }
