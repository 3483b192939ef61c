package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/controller/store/postgres/pgtest"
	"github.com/nines-sre/nines/controller/store/storetest"
	"github.com/nines-sre/nines/model"
)

func TestContract(t *testing.T) {
	dsn := pgtest.DSN(t)
	storetest.Run(t, func(t *testing.T) func() (store.Store, error) {
		schema := pgtest.Schema(t, dsn)
		return func() (store.Store, error) { return Open(context.Background(), schema) }
	})
}

func TestMigrationsAreRecordedOnce(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t, pgtest.DSN(t))
	// Replicas starting together migrate once.
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			s, err := Open(ctx, dsn)
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want, _ := store.Migrations(migrations, "migrations")
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(want) {
		t.Fatalf("schema_migrations: %d %v", n, err)
	}
}

func TestRedact(t *testing.T) {
	if got := Redact("postgres://nines:s3cret@db:5432/nines?sslmode=require"); got != "postgres://nines:xxxxx@db:5432/nines?sslmode=require" {
		t.Fatalf("redacted: %s", got)
	}
	if _, err := Open(context.Background(), "postgres://nines:s3cret@127.0.0.1:1/x?connect_timeout=1"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error of an unreachable database: %v", err)
	}
}

func TestLatestSinceReadsOnlyWhatIsNew(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, pgtest.Schema(t, pgtest.DSN(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	if _, err := s.InsertResults(ctx, []model.Result{storetest.Result("a", "eu-london", t0, model.OutcomeUp), storetest.Result("b", "eu-london", t0, model.OutcomeUp)}); err != nil {
		t.Fatal(err)
	}
	all, cursor, err := s.LatestSince(ctx, 0)
	if err != nil || len(all) != 2 || cursor == 0 {
		t.Fatalf("first read: %d results, cursor %d, %v", len(all), cursor, err)
	}
	// Rows stored more than the overlap before the cursor are not read again.
	if _, err := s.pool.Exec(ctx, `UPDATE results SET ingested_at = ingested_at - 60000`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.InsertResults(ctx, []model.Result{storetest.Result("a", "eu-london", t0.Add(time.Minute), model.OutcomeDown)}); err != nil {
		t.Fatal(err)
	}
	rs, next, err := s.LatestSince(ctx, cursor)
	if err != nil || len(rs) != 1 || rs[0].Check != "a" || rs[0].Outcome != model.OutcomeDown || next < cursor {
		t.Fatalf("incremental read: %+v, cursor %d, %v", rs, next, err)
	}
}

// openDays opens a store in a schema of its own, closed when t ends, and
// names three days in a row.
func openDays(t *testing.T) (s *Store, d1, d2, d3 time.Time) {
	s, err := Open(context.Background(), pgtest.Schema(t, pgtest.DSN(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	d1 = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	return s, d1, d1.Add(day), d1.Add(2 * day)
}

func TestDayPartitions(t *testing.T) {
	ctx := context.Background()
	s, d1, d2, d3 := openDays(t)
	count := func(table string) int64 {
		t.Helper()
		var n int64
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Results before any day partition exists land in results_default.
	early := []model.Result{
		storetest.Result("api", "eu-london", d1.Add(time.Hour), model.OutcomeUp),
		storetest.Result("api", "eu-london", d1.Add(23*time.Hour), model.OutcomeUp),
		storetest.Result("api", "eu-london", d2.Add(time.Minute), model.OutcomeDown),
	}
	if _, err := s.InsertResults(ctx, early); err != nil {
		t.Fatal(err)
	}
	if n := count("results_default"); n != 3 {
		t.Fatalf("%d rows in results_default", n)
	}
	made, err := s.MaintainPartitions(ctx, d1, d3)
	if err != nil || made != 3 {
		t.Fatalf("made %d partitions (%v), want three days", made, err)
	}
	if count("results_default") != 0 || count(partitionName(d1)) != 2 || count(partitionName(d2)) != 1 {
		t.Fatalf("rows not moved into their days: default %d, d1 %d, d2 %d", count("results_default"), count(partitionName(d1)), count(partitionName(d2)))
	}
	if made, err := s.MaintainPartitions(ctx, d1, d3); err != nil || made != 0 {
		t.Fatalf("second pass made %d (%v)", made, err)
	}
	// Ingest goes on into the partitions, idempotently.
	again, err := s.InsertResults(ctx, append(early[2:], storetest.Result("api", "eu-london", d3.Add(time.Minute), model.OutcomeUp)))
	if err != nil || again[0] || !again[1] || count(partitionName(d3)) != 1 {
		t.Fatalf("ingest into partitions: %v %v", again, err)
	}
	got, err := s.Results(ctx, store.Query{Check: "api", Since: d1})
	if err != nil || len(got) != 4 {
		t.Fatalf("results across partitions: %d %v", len(got), err)
	}
	// Retention drops whole days and deletes the rest row by row.
	n, err := s.PruneResults(ctx, d2.Add(12*time.Hour))
	if err != nil || n != 3 {
		t.Fatalf("pruned %d (%v), want day 1's two rows and day 2's one", n, err)
	}
	parts, _ := s.Partitions(ctx)
	if parts[partitionName(d1)] || !parts[partitionName(d2)] || !parts[partitionName(d3)] {
		t.Fatalf("partitions after retention: %v", parts)
	}
	if c, _ := s.CountResults(ctx); c != 1 {
		t.Fatalf("%d results left, want day 3's", c)
	}
}

// Notices reach every replica listening on the schema's channel, and no
// other schema's.
func TestNoticesReachTheReplicasOfTheSchema(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := Open(ctx, pgtest.Schema(t, dsn))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, pgtest.Schema(t, dsn))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got := make(chan string, 10)
	listening := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- a.Listen(ctx, "confirm", func() { close(listening) }, func(p []byte) { got <- string(p) })
	}()
	select {
	case <-listening:
	case err := <-done:
		t.Fatal(err)
	}
	if err := b.Notify(ctx, "confirm", []byte("another schema's")); err != nil {
		t.Fatal(err)
	}
	if err := a.Notify(ctx, "confirm", []byte(`{"round": 1}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if p != `{"round": 1}` {
			t.Fatalf("got %q", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no notice within 5 s")
	}
	if err := a.Notify(ctx, "confirm", make([]byte, 8000)); err == nil {
		t.Fatal("an 8000-byte payload was sent")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Listen after its context ended: %v", err)
	}
	select {
	case p := <-got:
		t.Fatalf("an unexpected notice %q", p)
	default:
	}
}
