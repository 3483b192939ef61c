package e2e

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nines-sre/nines/alerting/pagerdutytest"
	"github.com/nines-sre/nines/controller/store/postgres/pgtest"
	"github.com/nines-sre/nines/e2e/internal/harness"
	"github.com/nines-sre/nines/internal/testwait"
)

const haConfig = configHead + `        assert: ["status == 200"]
alerting:
  notifiers:
    - {id: primary, pagerduty: {routing_key: HAPRIMARYHAPRIMARYHAPRIMARY00001, events_url: %[4]q}}
    - {id: secondary, pagerduty: {routing_key: HASECONDARYHASECONDARYHASECOND02, events_url: %[4]q}}
  policies:
    - {id: page, levels: [{targets: [primary]}, {delay: 8s, targets: [secondary]}]}
  rules:
    - {id: down, kind: check_down, policy: page, resolve_after: 4s}
dashboard:
  users:
    - {name: alice, password_hash: %[5]q}
`

type leaderView struct {
	Replica string `json:"replica"`
	Leading bool   `json:"leading"`
}

// TestHAControllersOnPostgreSQL runs two controllers over one PostgreSQL
// database with probes that know both, kills the leader in the middle of a
// global outage and checks that paging goes on from the other: one
// PagerDuty incident per service, the escalation reaches its second level,
// and the resolve arrives.
func TestHAControllersOnPostgreSQL(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs the real binary")
	}
	database := pgtest.Schema(t, pgtest.DSN(t))
	t.Parallel()
	dir := t.TempDir()
	csAddr := freeAddr(t)
	rs, toks := layOutRegions(t, dir)
	pd := pagerdutytest.New()
	defer pd.Close()
	hashCmd := exec.Command(harness.Binary, "hash-password")
	hashCmd.Stdin = strings.NewReader("correct horse\n")
	hash, err := hashCmd.Output()
	if err != nil {
		t.Fatalf("hash-password: %v", err)
	}
	cfgPath := filepath.Join(dir, "nines.yaml")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, haConfig, rs, toks, csAddr, pd.URL, strings.TrimSpace(string(hash))), 0o644); err != nil {
		t.Fatal(err)
	}
	start(t, dir, "contentsvc", "contentsvc", "--listen", csAddr, "--data", filepath.Join(dir, "cs"))
	addrs := map[string]string{"a": freeAddr(t), "b": freeAddr(t)}
	ctls := map[string]*proc{}
	for _, name := range []string{"a", "b"} {
		// The database URL goes through the environment, as a password would.
		ctls[name] = startWith(t, dir, "controller-"+name, []string{"NINES_DATABASE_URL=" + database}, "controller", "--config", cfgPath, "--data", filepath.Join(dir, "ctl-"+name),
			"--listen", addrs[name], "--replica", name, "--lease-ttl", "5s")
	}
	defer func() {
		if t.Failed() {
			ctls["a"].Tail(t)
			ctls["b"].Tail(t)
		}
	}()
	for i, r := range regions {
		// Half the probes list one controller first, half the other.
		list := "http://" + addrs["a"] + ",http://" + addrs["b"]
		if i%2 == 1 {
			list = "http://" + addrs["b"] + ",http://" + addrs["a"]
		}
		start(t, dir, "probe-"+r, "probe", "--region", r, "--controller", list,
			"--token-file", filepath.Join(dir, "tokens", r), "--probe-id", "ha-"+r, "--spool", filepath.Join(dir, r+".db"),
			"--listen", "", "--max-backoff", "1s")
	}
	checks := []string{"segments-api"}
	// Both replicas see every region, whichever replica its probe talks to.
	waitFor(t, addrs["a"], "every check up in seven regions on replica a", 30*time.Second, func(s *status) bool { return allUp(s, checks, regions) })
	waitFor(t, addrs["b"], "every check up in seven regions on replica b", 30*time.Second, func(s *status) bool { return allUp(s, checks, regions) })

	t.Run("SignInOnOneReplicaHoldsOnTheOther", func(t *testing.T) {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get("http://" + addrs["a"] + "/sre/login")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
		if m == nil {
			t.Fatalf("no CSRF token on the sign-in page:\n%s", page)
		}
		resp, err = c.PostForm("http://"+addrs["a"]+"/sre/login", url.Values{"csrf": {string(m[1])}, "user": {"alice"}, "password": {"correct horse"}})
		if err != nil || resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/sre" {
			t.Fatalf("sign in on replica a: %v %+v", err, resp)
		}
		resp.Body.Close()
		// Cookies belong to the host, not the port: b gets a's session.
		resp, err = c.Get("http://" + addrs["b"] + "/sre")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("the SRE view on replica b with a's session: %v %+v", err, resp)
		}
		resp.Body.Close()
	})

	leaders := func() []string {
		var out []string
		for name, addr := range addrs {
			var v leaderView
			if err := getJSON("http://"+addr+"/api/v1/leader", &v); err == nil && v.Leading {
				out = append(out, name)
			}
		}
		return out
	}
	var leader string
	testwait.Eventually(t, 15*time.Second, "one leader among the replicas", func() error {
		switch l := leaders(); len(l) {
		case 0:
			return errors.New("no leader")
		case 1:
			leader = l[0]
			return nil
		default:
			t.Fatalf("two leaders: %v", l)
			return nil
		}
	})
	follower := map[string]string{"a": "b", "b": "a"}[leader]
	t.Logf("replica %s leads", leader)

	post(t, "http://"+csAddr+"/admin/faults", `{"target":"segments","outage":true}`)
	const primary, secondary = "HAPRIMARYHAPRIMARYHAPRIMARY00001", "HASECONDARYHASECONDARYHASECOND02"
	waitPD := func(what string, limit time.Duration, cond func() bool) {
		t.Helper()
		testwait.Eventually(t, limit, what, func() error {
			if cond() {
				return nil
			}
			return fmt.Errorf("incidents %+v", pd.Incidents())
		})
	}
	waitPD("the first page", 30*time.Second, func() bool { return len(pd.IncidentsFor(primary)) == 1 })

	// The leader dies with the outage going on and the escalation pending.
	ctls[leader].Stop(syscall.SIGKILL)
	killed := time.Now()
	testwait.Eventually(t, 15*time.Second, "replica "+follower+" taking over", func() error {
		var v leaderView
		if err := getJSON("http://"+addrs[follower]+"/api/v1/leader", &v); err != nil {
			return err
		}
		if !v.Leading {
			return errors.New("not leading")
		}
		return nil
	})
	t.Logf("replica %s took over %s after the leader was killed", follower, time.Since(killed).Round(time.Millisecond))

	waitPD("the escalation to the second level", 30*time.Second, func() bool { return len(pd.IncidentsFor(secondary)) == 1 })
	post(t, "http://"+csAddr+"/admin/faults", "")
	waitFor(t, addrs[follower], "segments-api up again", 20*time.Second, func(s *status) bool { return allUp(s, checks, regions) })
	waitPD("the resolves", 30*time.Second, func() bool {
		p, s := pd.IncidentsFor(primary), pd.IncidentsFor(secondary)
		return len(p) == 1 && len(s) == 1 && p[0].Status == "resolved" && s[0].Status == "resolved"
	})
	if inc := pd.Incidents(); len(inc) != 2 {
		t.Fatalf("PagerDuty incidents: %+v, want one per service", inc)
	}
	triggers := 0
	for _, ev := range pd.Events() {
		if ev.RoutingKey == primary && ev.Action == "trigger" {
			triggers++
		}
	}
	t.Logf("trigger events sent to the first service: %d (one incident by dedup key)", triggers)
	if v := pd.Violations(); len(v) > 0 {
		t.Fatal(v)
	}
	// The survivor still serves every region.
	waitFor(t, addrs[follower], "every region up on the survivor", 10*time.Second, func(s *status) bool { return allUp(s, checks, regions) })
}
