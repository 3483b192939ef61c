package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/nines-sre/nines/e2e/internal/harness"
)

var flagRE = regexp.MustCompile(`^--[a-z][a-z0-9-]*`)

// checkArgs fails when args name a subcommand or a flag the binary does not
// have.
func checkArgs(t *testing.T, where string, args []string, help map[string]string) {
	t.Helper()
	if len(args) == 0 {
		t.Errorf("%s: no arguments", where)
		return
	}
	text, ok := help[args[0]]
	if !ok {
		out, err := exec.Command(harness.Binary, args[0], "--help").CombinedOutput()
		if err != nil {
			t.Errorf("%s: nines %s --help: %v", where, args[0], err)
			return
		}
		text = string(out)
		help[args[0]] = text
	}
	for _, a := range args[1:] {
		if f := flagRE.FindString(a); f != "" && !strings.Contains(text, "  "+f+" ") && !strings.Contains(text, ", "+f+" ") {
			t.Errorf("%s: nines %s has no flag %s", where, args[0], f)
		}
	}
}

func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []map[string]any
	for {
		var d map[string]any
		if err := dec.Decode(&d); err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatalf("%s: %v", path, err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
	return docs
}

func dig(m any, path ...string) any {
	for _, p := range path {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil
		}
		m = mm[p]
	}
	return m
}

func strs(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		out = append(out, x.(string))
	}
	return out
}

// withProgram returns the arguments as the nines binary would take them:
// nines-probe runs `nines probe` (one command builds both), and the image's
// entrypoint is nines.
func withProgram(t *testing.T, where string, program, args []string) []string {
	t.Helper()
	switch {
	case len(program) == 0 || program[0] == "/usr/local/bin/nines":
		return args
	case program[0] == "/usr/local/bin/nines-probe":
		if len(args) > 0 && args[0] == "probe" {
			t.Errorf("%s: nines-probe takes no subcommand", where)
		}
		return append([]string{"probe"}, args...)
	}
	t.Errorf("%s: runs %v, neither nines nor nines-probe", where, program)
	return args
}

// browserProbe reports whether a container runs the Containerfile's
// probe-browser target, started with a browser.
func browserProbe(image any, args []string) bool {
	return image == "ghcr.io/nines-sre/nines-probe-browser:latest" && slices.Contains(args, "--browser")
}

// checkDeployment checks one Deployment: non-root, no privilege escalation,
// probes on /healthz, and arguments the binary knows.
func checkDeployment(t *testing.T, f string, d map[string]any, help map[string]string, images map[string]bool) {
	t.Helper()
	name, _ := dig(d, "metadata", "name").(string)
	spec := dig(d, "spec", "template", "spec")
	if dig(spec, "securityContext", "runAsNonRoot") != true {
		t.Errorf("%s: %s may run as root", f, name)
	}
	for _, c := range dig(spec, "containers").([]any) {
		if strings.HasSuffix(name, "-browser") {
			if !browserProbe(dig(c, "image"), strs(dig(c, "args"))) {
				t.Errorf("%s: %s: a browser probe runs the probe-browser image with --browser", f, name)
			}
		} else {
			images[dig(c, "image").(string)] = true
		}
		checkArgs(t, f+": "+name, withProgram(t, f+": "+name, strs(dig(c, "command")), strs(dig(c, "args"))), help)
		// The controller is ready while its store answers; a probe once it runs.
		ready := "/healthz"
		if strings.Contains(name, "controller") {
			ready = "/readyz"
		}
		if dig(c, "readinessProbe", "httpGet", "path") != ready || dig(c, "livenessProbe", "httpGet", "path") != "/healthz" {
			t.Errorf("%s: %s lacks readiness on %s or liveness on /healthz", f, name, ready)
		}
		if dig(c, "securityContext", "allowPrivilegeEscalation") != false {
			t.Errorf("%s: %s allows privilege escalation", f, name)
		}
	}
}

// TestDeploymentFiles checks the manifests, the compose file and the
// systemd units against the binary: every command and flag exists, probes
// and security settings are there, and the shipped configuration validates
// with the shipped secrets.
func TestDeploymentFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	help := map[string]string{}
	kinds := map[string]int{}
	var tokens map[string]any
	var nines string
	images := map[string]bool{}
	for _, f := range []string{"../deploy/kubernetes/controller.yaml", "../deploy/kubernetes/probes.yaml"} {
		for _, d := range yamlDocs(t, f) {
			kind, _ := d["kind"].(string)
			kinds[kind]++
			name, _ := dig(d, "metadata", "name").(string)
			if name == "" || d["apiVersion"] == nil {
				t.Errorf("%s: a %s without apiVersion or metadata.name", f, kind)
			}
			switch kind {
			case "Deployment":
				checkDeployment(t, f, d, help, images)
			case "Secret":
				if name == "nines-probe-tokens" {
					tokens = dig(d, "stringData").(map[string]any)
				} else if k, _ := dig(d, "stringData", "pagerduty-routing-key").(string); name != "nines-watchdog" || len(k) != 32 {
					t.Errorf("%s: Secret %s: want the probe tokens, or the watchdog's 32-character routing key", f, name)
				}
			case "ConfigMap":
				nines = dig(d, "data", "nines.yaml").(string)
			}
		}
	}
	if kinds["Deployment"] != 9 || kinds["PodDisruptionBudget"] != 9 || kinds["Service"] != 1 || kinds["ConfigMap"] != 1 || kinds["Secret"] != 2 {
		t.Errorf("kinds %v: want a controller, seven probe Deployments and a browser-capable one, each with a PodDisruptionBudget", kinds)
	}
	// The HA controller: several replicas on PostgreSQL, the database URL
	// from a Secret, a disruption budget that keeps a quorum of replicas.
	ha := map[string]map[string]any{}
	for _, d := range yamlDocs(t, "../deploy/kubernetes/controller-ha.yaml") {
		kind, _ := d["kind"].(string)
		ha[kind] = d
	}
	if d := ha["Deployment"]; d == nil {
		t.Error("controller-ha.yaml has no Deployment")
	} else {
		checkDeployment(t, "controller-ha.yaml", d, help, images)
		if r, _ := dig(d, "spec", "replicas").(int); r < 2 {
			t.Errorf("controller-ha.yaml runs %d replicas", r)
		}
		env := fmt.Sprint(dig(d, "spec", "template", "spec", "containers").([]any)[0].(map[string]any)["env"])
		if !strings.Contains(env, "NINES_DATABASE_URL") || !strings.Contains(env, "secretKeyRef") {
			t.Errorf("controller-ha.yaml should take NINES_DATABASE_URL from a Secret: %s", env)
		}
	}
	if ha["PodDisruptionBudget"] == nil || ha["Secret"] == nil {
		t.Errorf("controller-ha.yaml kinds: %v", ha)
	}
	if len(images) != 1 {
		t.Errorf("images %v: every container should run the one nines image", images)
	}
	// The ConfigMap's configuration validates with the Secret's tokens.
	dir := t.TempDir()
	for region, tok := range tokens {
		os.WriteFile(filepath.Join(dir, region), []byte(tok.(string)), 0o600)
	}
	cfg := filepath.Join(dir, "nines.yaml")
	os.WriteFile(cfg, []byte(strings.ReplaceAll(nines, "/etc/nines/tokens/", dir+"/")), 0o644)
	if out, err := exec.Command(harness.Binary, "validate", cfg).CombinedOutput(); err != nil {
		t.Errorf("the ConfigMap's nines.yaml: %v\n%s", err, out)
	}

	compose := yamlDocs(t, "../deploy/compose.yaml")[0]
	services := dig(compose, "services").(map[string]any)
	if len(services) != 9 {
		t.Errorf("compose runs %d services, want the controller, seven probes and a browser-capable one", len(services))
	}
	for name, s := range services {
		checkArgs(t, "compose "+name, withProgram(t, "compose "+name, strs(dig(s, "entrypoint")), strs(dig(s, "command"))), help)
		if strings.HasPrefix(name, "probe-") && !strings.HasSuffix(name, "-browser") && strs(dig(s, "entrypoint"))[0] != "/usr/local/bin/nines-probe" {
			t.Errorf("compose %s should run the lean nines-probe", name)
		}
		image := dig(s, "image").(string)
		if strings.HasSuffix(name, "-browser") {
			if !browserProbe(image, strs(dig(s, "command"))) {
				t.Errorf("compose %s: a browser probe runs the probe-browser image with --browser", name)
			}
			continue
		}
		images[image] = true
	}
	if len(images) != 1 {
		t.Errorf("compose and Kubernetes use different images: %v", images)
	}
	if b, err := os.ReadFile("../deploy/Containerfile"); err != nil || !strings.Contains(string(b), "AS probe-browser") {
		t.Errorf("the Containerfile has no probe-browser target: %v", err)
	}

	for _, unit := range []string{"../deploy/systemd/nines-controller.service", "../deploy/systemd/nines-probe@.service"} {
		f, err := os.Open(unit)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		seen := map[string]bool{}
		for sc.Scan() {
			line := sc.Text()
			if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
				seen[k] = true
				if k == "ExecStart" {
					fields := strings.Fields(v)
					checkArgs(t, unit, withProgram(t, unit, fields[:1], fields[1:]), help)
				}
			}
		}
		f.Close()
		for _, k := range []string{"NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "CapabilityBoundingSet", "User"} {
			if !seen[k] {
				t.Errorf("%s lacks %s", unit, k)
			}
		}
	}

	cf, _ := os.ReadFile("../deploy/Containerfile")
	if strings.Count(string(cf), "\nFROM ") < 2 || !strings.Contains(string(cf), "USER nonroot") || !strings.Contains(string(cf), "./cmd/nines ") ||
		!strings.Contains(string(cf), "./cmd/nines-probe") || !strings.Contains(string(cf), "/out/nines-probe") {
		t.Error("the Containerfile should be multi-stage, build ./cmd/nines and ./cmd/nines-probe and run as a non-root user")
	}
}
