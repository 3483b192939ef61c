// Package assertion parses and evaluates the assertions of checks
// ("status == 200", "body.json.items.len > 0", "latency < 300ms") and
// keeps which subjects each check kind's observations answer. It is a leaf:
// the configuration validates assertions with it, the probe's check
// runtime evaluates them.
package assertion

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/nines-sre/nines/model"
)

// Assertion is one parsed expression such as `status == 200`,
// `latency < 300ms`, `body.json.items.len > 0`,
// `header.content-type contains "json"` or `cert.expires_in > 14d`.
// It is parsed once at config load and evaluated without reparsing.
type Assertion struct {
	src  string
	path []string
	op   string
	lit  literal
	re   *regexp.Regexp
}

type litKind int

const (
	litNumber litKind = iota
	litDuration
	litString
	litBool
)

type literal struct {
	kind litKind
	num  float64
	dur  time.Duration
	str  string
	b    bool
}

// SyntaxError points at the column where an assertion stops making sense.
type SyntaxError struct {
	Col int
	Msg string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("column %d: %s", e.Col, e.Msg) }

var operators = []string{"==", "!=", "<=", ">=", "<", ">", "!contains", "contains", "matches"}

var subjects = map[string]bool{"status": true, "latency": true, "body": true, "header": true, "cert": true, "size": true,
	"answers": true, "rcode": true, "version": true, "flow": true, "browser": true}

// browserFields are what browser.FIELD can ask of a browser check's page:
// counts, times and a number (browser.value.NAME aside).
var browserFields = map[string]string{"js_errors": "count", "console_errors": "count", "failed_requests": "count",
	"failed_hosts": "list", "ttfb": "time", "dom_content_loaded": "time", "load": "time", "lcp": "time", "inp": "time", "cls": "number"}

// Parse parses src.
func Parse(src string) (*Assertion, error) {
	a := &Assertion{src: src}
	i := skipSpace(src, 0)
	start := i
	for i < len(src) && !unicode.IsSpace(rune(src[i])) && !strings.ContainsRune("=!<>", rune(src[i])) {
		i++
	}
	if i == start {
		return nil, &SyntaxError{Col: start + 1, Msg: "expected a subject such as status, latency, body, header.NAME or cert.expires_in"}
	}
	a.path = strings.Split(src[start:i], ".")
	if !subjects[a.path[0]] {
		return nil, &SyntaxError{Col: start + 1, Msg: fmt.Sprintf("unknown subject %q (status, latency, size, body, body.json.PATH, header.NAME, cert.expires_in, answers, rcode, version, flow.level, flow.STEP, browser.FIELD, browser.value.NAME)", a.path[0])}
	}
	if err := a.checkPath(start); err != nil {
		return nil, err
	}
	i = skipSpace(src, i)
	for _, op := range operators {
		if strings.HasPrefix(src[i:], op) {
			a.op = op
			break
		}
	}
	if a.op == "" {
		return nil, &SyntaxError{Col: i + 1, Msg: "expected an operator (== != < <= > >= contains !contains matches)"}
	}
	i = skipSpace(src, i+len(a.op))
	if i >= len(src) {
		return nil, &SyntaxError{Col: i + 1, Msg: "expected a value after " + a.op}
	}
	lit, n, err := parseLiteral(src[i:])
	if err != nil {
		return nil, &SyntaxError{Col: i + 1, Msg: err.Error()}
	}
	a.lit = lit
	if rest := skipSpace(src, i+n); rest < len(src) {
		return nil, &SyntaxError{Col: rest + 1, Msg: fmt.Sprintf("unexpected %q after the value", src[rest:])}
	}
	switch a.op {
	case "contains", "!contains":
		if lit.kind != litString {
			return nil, &SyntaxError{Col: i + 1, Msg: a.op + " needs a quoted string"}
		}
	case "matches":
		if lit.kind != litString {
			return nil, &SyntaxError{Col: i + 1, Msg: "matches needs a quoted regular expression"}
		}
		re, err := regexp.Compile(lit.str)
		if err != nil {
			return nil, &SyntaxError{Col: i + 1, Msg: fmt.Sprintf("bad regular expression: %v", err)}
		}
		a.re = re
	case "<", "<=", ">", ">=":
		if lit.kind != litNumber && lit.kind != litDuration {
			return nil, &SyntaxError{Col: i + 1, Msg: a.op + " needs a number or a duration"}
		}
	}
	if (a.path[0] == "latency" || a.path[0] == "cert" || a.browserField() == "time") && lit.kind == litNumber && a.op != "==" && a.op != "!=" && lit.num != 0 {
		return nil, &SyntaxError{Col: i + 1, Msg: fmt.Sprintf("%s compares with a duration such as 300ms or 14d", strings.Join(a.path, "."))}
	}
	if a.counts() && lit.kind == litDuration {
		return nil, &SyntaxError{Col: i + 1, Msg: fmt.Sprintf("%s is a count, not a time: compare it with a number such as 200, without a unit", strings.Join(a.path, "."))}
	}
	if a.path[0] == "rcode" && lit.kind != litString {
		return nil, &SyntaxError{Col: i + 1, Msg: `rcode compares with a quoted name such as "NOERROR" or "NXDOMAIN"`}
	}
	return a, nil
}

// counts reports whether the subject is a count (a status code, a size, a
// number of answers), which a duration can never match.
func (a *Assertion) counts() bool {
	switch a.path[0] {
	case "status", "size":
		return true
	case "answers":
		return len(a.path) == 2
	case "browser":
		return a.browserField() == "count"
	}
	return false
}

// browserField is the sort of a browser.FIELD subject ("" otherwise).
func (a *Assertion) browserField() string {
	if a.path[0] != "browser" || len(a.path) != 2 {
		return ""
	}
	return browserFields[a.path[1]]
}

// Subject is the assertion's subject: status, latency, body, header, cert,
// answers, rcode, version, flow...
func (a *Assertion) Subject() string { return a.path[0] }

func (a *Assertion) checkPath(col int) error {
	switch a.path[0] {
	case "status", "latency", "size", "rcode", "version":
		if len(a.path) != 1 {
			return &SyntaxError{Col: col + 1, Msg: a.path[0] + " has no fields"}
		}
	case "header":
		if len(a.path) != 2 || a.path[1] == "" {
			return &SyntaxError{Col: col + 1, Msg: "use header.NAME, e.g. header.content-type"}
		}
	case "cert":
		if len(a.path) != 2 || a.path[1] != "expires_in" {
			return &SyntaxError{Col: col + 1, Msg: "use cert.expires_in"}
		}
	case "flow":
		if len(a.path) != 2 || (a.path[1] != "level" && a.path[1] != "segments" && a.path[1] != "manifest" && a.path[1] != "content") {
			return &SyntaxError{Col: col + 1, Msg: "use flow.level, flow.segments, flow.manifest or flow.content"}
		}
	case "browser":
		if !(len(a.path) == 2 && browserFields[a.path[1]] != "") && !(len(a.path) == 3 && a.path[1] == "value" && a.path[2] != "") {
			return &SyntaxError{Col: col + 1, Msg: "use browser.value.NAME or browser.FIELD: js_errors, console_errors, failed_requests, failed_hosts, ttfb, dom_content_loaded, load, lcp, inp, cls"}
		}
	case "answers":
		if len(a.path) > 2 || (len(a.path) == 2 && a.path[1] != "len") {
			return &SyntaxError{Col: col + 1, Msg: "use answers or answers.len"}
		}
	case "body":
		if len(a.path) > 1 && a.path[1] != "json" {
			return &SyntaxError{Col: col + 1, Msg: "use body or body.json.PATH"}
		}
	}
	return nil
}

func skipSpace(s string, i int) int {
	for i < len(s) && unicode.IsSpace(rune(s[i])) {
		i++
	}
	return i
}

var durationRE = regexp.MustCompile(`^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)`)
var numberRE = regexp.MustCompile(`^-?\d+(?:\.\d+)?`)

func parseLiteral(s string) (literal, int, error) {
	switch {
	case s[0] == '"':
		str, err := strconv.QuotedPrefix(s)
		if err != nil {
			return literal{}, 0, fmt.Errorf("unterminated or malformed string")
		}
		v, _ := strconv.Unquote(str)
		return literal{kind: litString, str: v}, len(str), nil
	case strings.HasPrefix(s, "true"), strings.HasPrefix(s, "false"):
		b := strings.HasPrefix(s, "true")
		n := 4
		if !b {
			n = 5
		}
		return literal{kind: litBool, b: b}, n, nil
	}
	if m := durationRE.FindStringSubmatch(s); m != nil {
		end := len(m[0])
		if end == len(s) || !unicode.IsLetter(rune(s[end])) {
			f, _ := strconv.ParseFloat(m[1], 64)
			unit := map[string]time.Duration{"ns": 1, "us": time.Microsecond, "µs": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[m[2]]
			return literal{kind: litDuration, dur: time.Duration(f * float64(unit))}, end, nil
		}
	}
	if m := numberRE.FindString(s); m != "" {
		f, _ := strconv.ParseFloat(m, 64)
		return literal{kind: litNumber, num: f}, len(m), nil
	}
	return literal{}, 0, fmt.Errorf("expected a number, a duration (300ms, 14d), true, false or a quoted string")
}

// String returns the source text.
func (a *Assertion) String() string { return a.src }

// Subject is what assertions look at: one response.
type Subject struct {
	Status     int
	Latency    time.Duration
	Size       int64
	Body       []byte
	Header     http.Header
	CertExpiry time.Time
	Now        time.Time
	// Answers and RCode are set by dns checks; Version by cdn checks;
	// FlowLevel and Steps by flow checks.
	Answers   []string
	RCode     string
	Version   string
	FlowLevel string
	Steps     map[string]time.Duration
	// Browser is set by browser checks.
	Browser *model.BrowserFacts

	json    any
	jsonErr error
	parsed  bool
}

// JSONBody is the body parsed as JSON, once.
func (s *Subject) JSONBody() (any, error) {
	if !s.parsed {
		s.parsed = true
		s.jsonErr = json.Unmarshal(s.Body, &s.json)
	}
	return s.json, s.jsonErr
}

// Eval reports whether the assertion holds; when it does not, the error says
// which assertion failed and the value seen.
func (a *Assertion) Eval(s *Subject) error {
	seen, err := a.value(s)
	if err != nil {
		return fmt.Errorf("%s: %w", a.src, err)
	}
	if !a.compare(seen) {
		return fmt.Errorf("%s: saw %s", a.src, describe(seen))
	}
	return nil
}

func (a *Assertion) value(s *Subject) (any, error) {
	switch a.path[0] {
	case "status":
		return float64(s.Status), nil
	case "size":
		return float64(s.Size), nil
	case "latency":
		return s.Latency, nil
	case "header":
		return s.Header.Get(a.path[1]), nil
	case "rcode":
		return s.RCode, nil
	case "flow":
		if a.path[1] == "level" {
			return s.FlowLevel, nil
		}
		return s.Steps[a.path[1]], nil
	case "version":
		return s.Version, nil
	case "browser":
		return browserValue(s.Browser, a.path)
	case "answers":
		if len(a.path) == 2 {
			return float64(len(s.Answers)), nil
		}
		return s.Answers, nil
	case "cert":
		if s.CertExpiry.IsZero() {
			return nil, fmt.Errorf("no certificate was presented")
		}
		return s.CertExpiry.Sub(s.Now), nil
	}
	if len(a.path) == 1 {
		return string(s.Body), nil
	}
	v, err := s.JSONBody()
	if err != nil {
		return nil, fmt.Errorf("body is not JSON: %v", err)
	}
	for k, key := range a.path[2:] {
		switch t := v.(type) {
		case map[string]any:
			if key == "len" && k == len(a.path)-3 {
				if _, has := t[key]; !has {
					return float64(len(t)), nil
				}
			}
			next, ok := t[key]
			if !ok {
				return nil, fmt.Errorf("body.json has no %q", strings.Join(a.path[2:k+3], "."))
			}
			v = next
		case []any:
			if key == "len" {
				v = float64(len(t))
				continue
			}
			idx, err := strconv.Atoi(key)
			if err != nil || idx < 0 || idx >= len(t) {
				return nil, fmt.Errorf("body.json.%s: index %q out of range (%d items)", strings.Join(a.path[2:k+2], "."), key, len(t))
			}
			v = t[idx]
		case string:
			if key == "len" {
				v = float64(len(t))
				continue
			}
			return nil, fmt.Errorf("body.json.%s is a string", strings.Join(a.path[2:k+2], "."))
		default:
			return nil, fmt.Errorf("body.json.%s is %s, not an object", strings.Join(a.path[2:k+2], "."), describe(t))
		}
	}
	return v, nil
}

func (a *Assertion) compare(seen any) bool {
	switch a.op {
	case "contains", "!contains":
		if list, ok := seen.([]string); ok {
			return slices.Contains(list, a.lit.str) == (a.op == "contains")
		}
		str, _ := seen.(string)
		return strings.Contains(str, a.lit.str) == (a.op == "contains")
	case "matches":
		str, ok := seen.(string)
		return ok && a.re.MatchString(str)
	}
	var c int
	switch v := seen.(type) {
	case float64:
		if a.lit.kind != litNumber {
			return false
		}
		c = cmp(v, a.lit.num)
	case time.Duration:
		want := a.lit.dur
		if a.lit.kind == litNumber {
			want = time.Duration(a.lit.num)
		}
		c = cmp(v, want)
	case string:
		if a.lit.kind != litString {
			return false
		}
		c = strings.Compare(v, a.lit.str)
	case bool:
		if a.lit.kind != litBool {
			return false
		}
		if v != a.lit.b {
			c = 1
		}
	default:
		return false
	}
	switch a.op {
	case "==":
		return c == 0
	case "!=":
		return c != 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	}
	return false
}

func cmp[T float64 | time.Duration](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func describe(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case time.Duration:
		return t.Round(time.Microsecond).String()
	case string:
		if len(t) > 64 {
			t = t[:64] + "…"
		}
		return strconv.Quote(t)
	case map[string]any:
		return "an object"
	case []any:
		return fmt.Sprintf("a list of %d", len(t))
	case []string:
		return fmt.Sprintf("%q", t)
	}
	return fmt.Sprint(v)
}

// kindSubjects lists, per check kind, the subjects its observations set.
var kindSubjects = map[model.Kind][]string{
	model.KindHTTP:    {"status", "latency", "size", "body", "header", "cert"},
	model.KindCDN:     {"status", "latency", "size", "body", "header", "cert", "version"},
	model.KindTCP:     {"latency", "size", "body", "cert"},
	model.KindDNS:     {"latency", "size", "body", "answers", "rcode"},
	model.KindTLS:     {"latency", "cert"},
	model.KindFlow:    {"latency", "size", "flow"},
	model.KindBrowser: {"latency", "browser"},
}

// browserValue is the value of browser.FIELD or browser.value.NAME.
func browserValue(b *model.BrowserFacts, path []string) (any, error) {
	if b == nil {
		return nil, fmt.Errorf("the page was not reached")
	}
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	switch path[1] {
	case "value":
		v, ok := b.Values[path[2]]
		if !ok {
			return nil, fmt.Errorf("no value %q was read", path[2])
		}
		return v, nil
	case "js_errors":
		return float64(len(b.JSErrors)), nil
	case "console_errors":
		return float64(len(b.ConsoleErrors)), nil
	case "failed_requests":
		return float64(len(b.FailedRequests)), nil
	case "failed_hosts":
		var hosts []string
		for _, f := range b.FailedRequests {
			if u, err := url.Parse(f.URL); err == nil && !slices.Contains(hosts, u.Host) {
				hosts = append(hosts, u.Host)
			}
		}
		return hosts, nil
	case "ttfb":
		return ms(b.TTFBMS), nil
	case "dom_content_loaded":
		return ms(b.DOMContentLoadedMS), nil
	case "load":
		return ms(b.LoadMS), nil
	case "lcp":
		return ms(b.LCPMS), nil
	case "inp":
		return ms(b.INPMS), nil
	case "cls":
		return b.CLS, nil
	}
	return nil, fmt.Errorf("no browser field %q", path[1])
}

// Subjects returns the subjects a check kind can be asked about.
func Subjects(kind model.Kind) []string { return kindSubjects[kind] }
