//go:build linux

package netns

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nines-sre/nines/alerting/pagerdutytest"
	"github.com/nines-sre/nines/e2e/internal/harness"
)

// netLab is a set of network namespaces made by a test: a hub, where the
// controller, contentsvc and the healthy regions' probes run, and one
// namespace per region that the test can cut off, joined to the hub by a
// veth pair. Every address lives in these namespaces; nothing leaves the
// machine.
type netLab struct {
	t   *testing.T
	hub string
	// cut maps a region to its namespace and the hub's end of its link.
	cut map[string]labLink
}

type labLink struct {
	ns, hubEnd string
}

// hubAddr is the hub's address, reachable from every namespace of the lab.
const hubAddr = "10.231.0.1"

// newNetLab makes the hub and a namespace for each region in cuttable; it
// skips the test where namespaces cannot be made (not root, no ip).
func newNetLab(t *testing.T, cuttable ...string) *netLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("network namespaces need the ip command (iproute2)")
	}
	id := os.Getpid() % 100000
	l := &netLab{t: t, hub: fmt.Sprintf("nines-hub-%d", id), cut: map[string]labLink{}}
	t.Cleanup(l.remove)
	l.ip("netns", "add", l.hub)
	l.ip("-n", l.hub, "link", "set", "lo", "up")
	// The hub's own address, on its loopback so that it stays whatever
	// happens to a region's link.
	l.ip("-n", l.hub, "addr", "add", hubAddr+"/32", "dev", "lo")
	for i, region := range cuttable {
		ns := fmt.Sprintf("nines-r%d-%d", i+1, id)
		hubEnd, regionEnd := fmt.Sprintf("vr%dh", i+1), fmt.Sprintf("vr%dc", i+1)
		l.ip("netns", "add", ns)
		l.ip("-n", ns, "link", "set", "lo", "up")
		l.ip("link", "add", hubEnd, "netns", l.hub, "type", "veth", "peer", "name", regionEnd, "netns", ns)
		hubIP, regionIP := fmt.Sprintf("10.231.%d.1", i+1), fmt.Sprintf("10.231.%d.2", i+1)
		l.ip("-n", l.hub, "addr", "add", hubIP+"/30", "dev", hubEnd)
		l.ip("-n", ns, "addr", "add", regionIP+"/30", "dev", regionEnd)
		l.ip("-n", l.hub, "link", "set", hubEnd, "up")
		l.ip("-n", ns, "link", "set", regionEnd, "up")
		l.ip("-n", ns, "route", "add", "default", "via", hubIP)
		l.cut[region] = labLink{ns: ns, hubEnd: hubEnd}
	}
	return l
}

func (l *netLab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (l *netLab) remove() {
	for _, link := range l.cut {
		_ = exec.Command("ip", "netns", "del", link.ns).Run()
	}
	_ = exec.Command("ip", "netns", "del", l.hub).Run()
}

// setLink cuts (up false) or heals a region's link to the hub.
func (l *netLab) setLink(region string, up bool) {
	l.t.Helper()
	state := "down"
	if up {
		state = "up"
	}
	l.ip("-n", l.hub, "link", "set", l.cut[region].hubEnd, state)
}

// nsOf is the namespace a region's probe runs in.
func (l *netLab) nsOf(region string) string {
	if link, ok := l.cut[region]; ok {
		return link.ns
	}
	return l.hub
}

// start runs the binary inside a namespace of the lab.
func (l *netLab) start(dir, ns, name string, args ...string) *harness.Proc {
	l.t.Helper()
	logPath := filepath.Join(dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		l.t.Fatal(err)
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, harness.Binary}, args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		l.t.Fatalf("start %s: %v", name, err)
	}
	f.Close()
	p := &harness.Proc{Name: name, Cmd: cmd, Log: logPath}
	l.t.Cleanup(func() { p.Stop(9) })
	return p
}

// inNamespace runs fn on a thread that has entered namespace ns; a socket
// fn makes belongs to ns for its whole life.
func inNamespace(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// The thread is left locked, so the runtime ends it instead of
		// reusing it in a namespace other goroutines do not expect.
		runtime.LockOSThread()
		target, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// listenIn listens on addr inside namespace ns.
func listenIn(t *testing.T, ns, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	if err := inNamespace(ns, func() (err error) { ln, err = net.Listen("tcp", addr); return }); err != nil {
		t.Fatal(err)
	}
	return ln
}

// clientIn is an HTTP client whose connections are made inside ns.
func clientIn(ns string) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := inNamespace(ns, func() (err error) {
			var d net.Dialer
			c, err = d.DialContext(ctx, network, addr)
			return
		})
		return c, err
	}
	return &http.Client{Transport: tr}
}

// installation lays out in dir the regions' tokens and a configuration
// (configTmpl) that pages a PagerDuty stand-in, and starts in the hub
// contentsvc on port and the stand-in on port+1. The stand-in closes when
// the test ends.
func (l *netLab) installation(dir string, port int) (cfgPath string, pd *pagerdutytest.Server) {
	l.t.Helper()
	rs, toks := harness.LayOutRegions(l.t, dir)
	cs := fmt.Sprintf("%s:%d", hubAddr, port)
	pd = pagerdutytest.NewOn(listenIn(l.t, l.hub, fmt.Sprintf("%s:%d", hubAddr, port+1)))
	l.t.Cleanup(pd.Close)
	cfgPath = filepath.Join(dir, "nines.yaml")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, harness.ConfigTmpl, rs, toks, cs, pd.URL), 0o644); err != nil {
		l.t.Fatal(err)
	}
	if out, err := exec.Command(harness.Binary, "validate", cfgPath).CombinedOutput(); err != nil {
		l.t.Fatalf("validate: %v\n%s", err, out)
	}
	l.start(dir, l.hub, "contentsvc", "contentsvc", "--listen", cs, "--data", filepath.Join(dir, "cs"))
	return cfgPath, pd
}
