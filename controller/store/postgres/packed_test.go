package postgres

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/controller/store/storetest"
	"github.com/nines-sre/nines/model"
)

// Packing closed days changes how results are kept, not what any read
// returns; a late result for a packed day is read at once and folded in
// at the next pack, a duplicate once; retention takes packed days whole.
func TestPackedDaysReadAlike(t *testing.T) {
	ctx := context.Background()
	s, d1, d2, d3 := openDays(t)
	if _, err := s.MaintainPartitions(ctx, d1, d3); err != nil {
		t.Fatal(err)
	}
	expiry := d3.Add(40 * day)
	var rs []model.Result
	for at := d1.Add(7 * time.Minute); at.Before(d3.Add(day)); at = at.Add(10 * time.Minute) {
		for i, region := range []string{"eu-london", "ap-tokyo", "us-ohio"} {
			outcome := model.OutcomeUp
			if (at.Minute()+i)%7 == 0 {
				outcome = model.OutcomeDown
			}
			r := storetest.Result("api", region, at.Add(time.Duration(i)*time.Second), outcome)
			r.CertExpiry = &expiry
			rs = append(rs, r)
			cdn := storetest.Result("cdn", region, at, model.OutcomeUp)
			cdn.Edge = &model.Edge{IP: "192.0.2.7", ContentHash: "ab12", Version: "v3"}
			rs = append(rs, cdn)
		}
	}
	if _, err := s.InsertResults(ctx, rs); err != nil {
		t.Fatal(err)
	}

	type reads struct {
		all, newest, tokyo, window []model.Result
		pages                      [][]model.Result
		outcomes                   []store.Outcome
		count                      int64
	}
	read := func() reads {
		t.Helper()
		var r reads
		var err error
		if r.all, err = s.Results(ctx, store.Query{Check: "api", Since: d1, Limit: 10000}); err != nil {
			t.Fatal(err)
		}
		if r.newest, err = s.Results(ctx, store.Query{Check: "api", Since: d1, Newest: true, Limit: 50}); err != nil {
			t.Fatal(err)
		}
		if r.tokyo, err = s.Results(ctx, store.Query{Check: "cdn", Region: "ap-tokyo", Since: d1, Limit: 10000}); err != nil {
			t.Fatal(err)
		}
		if r.window, err = s.Results(ctx, store.Query{Check: "api", Since: d1.Add(23 * time.Hour), Until: d2.Add(time.Hour), Limit: 10000}); err != nil {
			t.Fatal(err)
		}
		// Pages of 100 across the days, packed or not.
		var after *model.Result
		for {
			q := store.Query{Check: "api", Since: d1, Limit: 100}
			if after != nil {
				q.After = &store.Cursor{Scheduled: after.Scheduled, Region: after.Region}
			}
			page, err := s.Results(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			r.pages = append(r.pages, page)
			after = &page[len(page)-1]
		}
		if r.outcomes, err = s.Outcomes(ctx, "api", d1.Add(12*time.Hour), d3.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		sortOutcomes(r.outcomes)
		if r.count, err = s.CountResults(ctx); err != nil {
			t.Fatal(err)
		}
		return r
	}
	before := read()
	if len(before.all) != len(rs)/2 || before.count != int64(len(rs)) || len(before.pages) < 3 {
		t.Fatalf("before packing: %d results of api, %d in all, %d pages", len(before.all), before.count, len(before.pages))
	}

	packed, err := s.PackResults(ctx, d3.Add(5*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if want := before.count * 2 / 3; packed != want {
		t.Fatalf("packed %d results, want days 1 and 2's %d", packed, want)
	}
	parts, _ := s.Partitions(ctx)
	if parts[partitionName(d1)] || parts[partitionName(d2)] || !parts[partitionName(d3)] {
		t.Fatalf("partitions after packing: %v", parts)
	}
	after := read()
	if !reflect.DeepEqual(before, after) {
		for i := range before.all {
			if !reflect.DeepEqual(before.all[i], after.all[i]) {
				t.Fatalf("result %d differs after packing:\nbefore %+v\nafter  %+v", i, before.all[i], after.all[i])
			}
		}
		t.Fatalf("reads differ after packing: newest %v, tokyo %v, window %v, pages %v, outcomes %v, count %d → %d",
			reflect.DeepEqual(before.newest, after.newest), reflect.DeepEqual(before.tokyo, after.tokyo),
			reflect.DeepEqual(before.window, after.window), reflect.DeepEqual(before.pages, after.pages),
			reflect.DeepEqual(before.outcomes, after.outcomes), before.count, after.count)
	}

	// Late: a duplicate of a packed result and a new one for a packed day.
	late := storetest.Result("api", "eu-frankfurt", d1.Add(90*time.Second), model.OutcomeDown)
	stored, err := s.InsertResults(ctx, []model.Result{rs[0], late})
	if err != nil || !stored[1] {
		t.Fatalf("late results: %v %v", stored, err)
	}
	all, err := s.Results(ctx, store.Query{Check: "api", Since: d1, Limit: 10000})
	if err != nil || len(all) != len(before.all)+1 || all[0].Region != "eu-frankfurt" || !reflect.DeepEqual(all[1:], before.all) {
		t.Fatalf("read with a late result for a packed day: %d results (want %d), %v", len(all), len(before.all)+1, err)
	}
	if packed, err := s.PackResults(ctx, d3.Add(5*time.Hour)); err != nil || packed != 2 {
		t.Fatalf("second pack: %d %v, want the two late rows", packed, err)
	}
	if c, _ := s.CountResults(ctx); c != before.count+1 {
		t.Fatalf("%d results after folding in the late ones, want %d", c, before.count+1)
	}
	again, err := s.Results(ctx, store.Query{Check: "api", Since: d1, Limit: 10000})
	if err != nil || !reflect.DeepEqual(all, again) {
		t.Fatalf("reads changed by folding in the late results: %v", err)
	}

	// Slicing history can be recomputed from packed days.
	if _, err := s.pool.Exec(ctx, `DELETE FROM dirty`); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkAllDirty(ctx, "api"); err != nil {
		t.Fatal(err)
	}
	dirty, err := s.DirtyMinutes(ctx, 100000)
	if err != nil || len(dirty.Checks["api"]) != 3*24*6+1 {
		t.Fatalf("%d dirty minutes of api, want every tenth minute of three days and the late one (%v)", len(dirty.Checks["api"]), err)
	}

	// Retention: day 1 goes whole once wholly before the cut.
	n, err := s.PruneResults(ctx, d2.Add(12*time.Hour))
	if err != nil || n != before.count/3+1 {
		t.Fatalf("pruned %d (%v), want day 1's %d", n, err, before.count/3+1)
	}
	if c, _ := s.CountResults(ctx); c != before.count*2/3 {
		t.Fatalf("%d results left, want days 2 and 3's %d", c, before.count*2/3)
	}
}

func sortOutcomes(os []store.Outcome) {
	slices.SortFunc(os, func(a, b store.Outcome) int {
		if c := a.Scheduled.Compare(b.Scheduled); c != 0 {
			return c
		}
		return strings.Compare(a.Region, b.Region)
	})
}

// A packed day decodes to what was encoded, and damage is an error.
func TestPackedEncoding(t *testing.T) {
	cert := int64(1_900_000_000)
	rs := []rawResult{
		{check: 3, region: 2, probe: 7, config: 1, sched: 1_700_000_000_000, lag: -4, outcome: 1, class: 0, status: 200,
			dur: 1500, dns: 10, connect: 100, tls: 300, ttfb: 900, transfer: 50, bytes: 1 << 40, cert: &cert},
		{check: 3, region: 2, probe: 8, config: 2, sched: 1_700_000_060_000, lag: 12, outcome: 3, class: 4, status: 503,
			dur: 30_000_000, message: "status 503 from https://api.example/health", facts: []byte(`{"edge":{"ip":"192.0.2.1"}}`)},
		{check: 3, region: 2, sched: 1_700_000_120_000, facts: []byte{}},
	}
	b := encodePacked(rs)
	got, err := decodePacked(b, 3, 2)
	if err != nil || !reflect.DeepEqual(got, rs) {
		t.Fatalf("round trip: %v\n got  %+v\n want %+v", err, got, rs)
	}
	raw, _ := zdec.DecodeAll(b, nil)
	for _, cut := range []int{1, len(raw) / 2, len(raw) - 1} {
		if _, err := decodePacked(zenc.EncodeAll(raw[:cut], nil), 3, 2); err == nil {
			t.Errorf("a day cut to %d of %d bytes decoded", cut, len(raw))
		}
	}
	if _, err := decodePacked([]byte("not zstd"), 3, 2); err == nil {
		t.Error("garbage decoded")
	}
}
