// Command firstread measures what the first reader of each public document
// gets after an idle period: it runs the real controller (with -database,
// two controller replicas sharing PostgreSQL, the probes talking to the
// first and the documents read from the second, which nobody else asks),
// seven synthetic regional probes, and a webhook that takes the alerts.
// Once every document has been read and then left alone for -idle, it
// stages a global outage of one component and reads each document exactly
// once at each of -reads after the status API first said down, with no
// read between. For each read it prints whether the document showed the
// outage and how old the document was (its own timestamp, when it has one).
//
//	go run ./bench/firstread
//	go run ./bench/firstread -database postgres://postgres@127.0.0.1:5432/test
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nines-sre/nines/bench/internal/loadgen"
	"github.com/nines-sre/nines/controller/store/postgres/pgtest"
	"github.com/nines-sre/nines/model"
)

func main() {
	checks := flag.Int("checks", 100, "checks in the configuration")
	components := flag.Int("components", 10, "components the checks are spread over (the first is the one that fails)")
	idle := flag.Duration("idle", time.Minute, "how long nobody reads before the outage")
	reads := flag.String("reads", "5s,40s,75s", "when, after the status API first says down, each document is read once")
	database := flag.String("database", "", "PostgreSQL URL: run two replicas, read from the one the probes do not talk to")
	binary := flag.String("binary", "", "nines binary (default: build ./cmd/nines)")
	flag.Parse()
	var at []time.Duration
	for _, s := range strings.Split(*reads, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil || d <= 0 {
			fmt.Fprintf(os.Stderr, "firstread: -reads: %q is not a positive duration\n", s)
			os.Exit(2)
		}
		at = append(at, d)
	}
	if err := run(*checks, *components, *idle, at, *database, *binary); err != nil {
		fmt.Fprintln(os.Stderr, "firstread:", err)
		os.Exit(1)
	}
}

// document is a public document and how to tell that it shows the outage
// of comp-0 and when it was generated (zero: it does not say).
type document struct {
	path  string
	shows func(body string) bool
	when  func(body string) time.Time
}

var (
	generatedAt = regexp.MustCompile(`"generated_at":"([^"]+)"`)
	updatedAt   = regexp.MustCompile(`"page":\{[^}]*"updated_at":"([^"]+)"`)
	bodyTime    = regexp.MustCompile(`data-generated="([^"]+)"`)
)

func stamp(re *regexp.Regexp) func(string) time.Time {
	return func(body string) time.Time {
		if m := re.FindStringSubmatch(body); m != nil {
			t, _ := time.Parse(time.RFC3339Nano, m[1])
			return t
		}
		return time.Time{}
	}
}

func documents() []document {
	contains := func(s string) func(string) bool { return func(b string) bool { return strings.Contains(b, s) } }
	none := func(string) time.Time { return time.Time{} }
	return []document{
		{"/api/v1/status", contains(`"id":"comp-0","name":"comp-0","status":"down"`), stamp(generatedAt)},
		{"/api/v1/status?view=compact", contains(`{"id":"comp-0","status":"down"`), stamp(generatedAt)},
		{"/", contains(`id="component-comp-0"><header><strong>comp-0</strong> <span class="badge s-major_outage"`), stamp(bodyTime)},
		{"/badge/check-0.svg", contains("· down"), none},
		{"/api/v2/summary.json", func(b string) bool { return !strings.Contains(b, `"indicator":"none"`) }, stamp(updatedAt)},
		{"/api/v2/components.json", contains(`"id":"comp-0","name":"comp-0","status":"major_outage"`), stamp(updatedAt)},
		{"/api/v2/incidents/unresolved.json", contains(`"status":"investigating"`), stamp(updatedAt)},
		{"/history", contains(`href="/incidents/`), none},
		{"/history.atom", contains("<entry>"), none},
	}
}

func get(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	return string(b), err
}

func run(checks, components int, idle time.Duration, reads []time.Duration, database, binary string) error {
	dir, binary, cleanup, err := loadgen.Workdir("nines-firstread", "./cmd/nines", binary)
	if err != nil {
		return err
	}
	defer cleanup()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	defer hook.Close()
	cfg := loadgen.Config(checks, components, loadgen.Regions, 2) + fmt.Sprintf(`alerting:
  notifiers: [{id: hook, webhook: {url: %q}}]
  policies: [{id: page, levels: [{targets: [hook]}]}]
  rules: [{id: down, kind: check_down, policy: page}]
`, hook.URL+"/hook")
	var args []string
	if database != "" {
		scoped, drop, err := pgtest.NewSchema(context.Background(), database, "nines_firstread_")
		if err != nil {
			return err
		}
		defer drop()
		database = scoped
		args = []string{"--database", database, "--replica", "a"}
	}
	ctl, err := loadgen.StartController(binary, dir, cfg, args...)
	if err != nil {
		return err
	}
	defer ctl.Stop()
	reader, where := ctl.Base, "the controller"
	if database != "" {
		other := filepath.Join(dir, "b")
		if err := os.MkdirAll(other, 0o750); err != nil {
			return err
		}
		b, err := loadgen.StartController(binary, other, cfg, "--database", database, "--replica", "b")
		if err != nil {
			return err
		}
		defer b.Stop()
		reader, where = b.Base, "the replica nobody else reads (the probes talk to the other)"
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var down sync.Map
	failing := func(check string) bool { _, ok := down.Load(check); return ok }
	var probes []*loadgen.Probe
	errc := make(chan error, len(loadgen.Regions))
	for _, r := range loadgen.Regions {
		p := loadgen.NewProbe(ctl.Base, r)
		p.Down = failing
		probes = append(probes, p)
		go func() { errc <- p.Run(ctx, true) }()
	}
	docs := documents()
	deadline := time.Now().Add(time.Minute)
	for {
		ok := true
		for _, d := range docs[:1] {
			body, err := get(reader + d.path)
			ok = ok && err == nil && strings.Contains(body, `"status":"up"`)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the status API did not say up within a minute")
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, d := range docs {
		if _, err := get(reader + d.path); err != nil {
			return err
		}
	}
	fmt.Printf("%d checks in %d components, 7 regions; documents read from %s\n", checks, components, where)
	fmt.Printf("every document read once, then nobody reads for %s\n", idle)
	time.Sleep(idle)

	// The outage: every check of comp-0 fails in every region, now.
	var failed []string
	for i := 0; i < checks; i += components {
		failed = append(failed, "check-"+strconv.Itoa(i))
	}
	for _, c := range failed {
		down.Store(c, true)
	}
	began := time.Now()
	for _, p := range probes {
		var rs []model.Result
		for _, c := range failed {
			rs = append(rs, p.Result(c, began.Truncate(time.Millisecond)))
		}
		if err := p.Post(ctx, rs); err != nil {
			return err
		}
	}
	// The verdict: when the status API, computed for the question (not
	// a published document), first says down.
	var verdict time.Time
	for time.Since(began) < 30*time.Second {
		var st struct {
			Components []struct{ Status string } `json:"components"`
		}
		resp, err := http.Get(reader + "/api/v1/status?component=comp-0")
		if err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
		}
		if len(st.Components) == 1 && st.Components[0].Status == "down" {
			verdict = time.Now()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if verdict.IsZero() {
		return fmt.Errorf("comp-0 was not down within 30 s")
	}
	fmt.Printf("outage staged; the status API said down %s later\n\n", verdict.Sub(began).Round(time.Millisecond))
	fmt.Printf("%-36s", "document (one read each)")
	for _, r := range reads {
		fmt.Printf(" %20s", "+"+r.String())
	}
	fmt.Println()
	rows := make([][]string, len(docs))
	for _, r := range reads {
		time.Sleep(time.Until(verdict.Add(r)))
		for i, d := range docs {
			readAt := time.Now()
			body, err := get(reader + d.path)
			cell := ""
			switch {
			case err != nil:
				cell = "error"
			case d.shows(body):
				cell = "outage"
			default:
				cell = fmt.Sprintf("STALE %.1fs", readAt.Sub(verdict).Seconds())
			}
			if t := d.when(body); err == nil && !t.IsZero() {
				cell += fmt.Sprintf(", %.1fs old", max(0, readAt.Sub(t).Seconds()))
			}
			rows[i] = append(rows[i], cell)
		}
	}
	for i, d := range docs {
		fmt.Printf("%-36s", d.path)
		for _, c := range rows[i] {
			fmt.Printf(" %20s", c)
		}
		fmt.Println()
	}
	fmt.Println("\n\"outage\": the read showed the outage; \"STALE n\": it did not, n after the verdict; \"n old\": how long before")
	fmt.Println("the read the document says it was generated (rebuilt when it changes, and every few seconds besides).")
	select {
	case err := <-errc:
		if err != nil {
			return fmt.Errorf("probe: %w", err)
		}
	default:
	}
	return nil
}
