package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	goccy "github.com/goccy/go-yaml"
	goccyparser "github.com/goccy/go-yaml/parser"
	"go.yaml.in/yaml/v3"
)

// FieldError is one problem in a configuration file.
type FieldError struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e FieldError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", loc, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", loc, e.Field, e.Msg)
}

// Errors is every problem found in one configuration.
type Errors []FieldError

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Load reads, expands, decodes, defaults and validates the file at path.
func Load(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, raw)
}

// Parse is Load on bytes already read; file names the source in errors.
func Parse(file string, raw []byte) (*Config, error) {
	return ParseWith(file, raw, os.LookupEnv)
}

// ParseWith is Parse with ${VAR} references resolved by lookup.
func ParseWith(file string, raw []byte, lookup func(string) (string, bool)) (*Config, error) {
	expanded, errs := expandEnv(file, raw, lookup)
	var root yaml.Node
	if err := yaml.Unmarshal(expanded, &root); err != nil {
		return nil, append(errs, syntaxErrors(file, expanded, err)...)
	}
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(expanded))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		errs = append(errs, yamlErrors(file, err)...)
	}
	// What decoded is validated too, so one run reports every problem; a
	// field that did not decode is not also reported as missing.
	cfg.File = file
	cfg.applyDefaults()
	cfg.index()
	v := validator{file: file, root: &root, broken: map[string]bool{}}
	bad := map[int]bool{}
	for _, e := range errs {
		bad[e.Line] = true
		v.broken[sectionAt(&root, e.Line)] = true
	}
	v.validate(&cfg, filepath.Dir(file))
	for _, e := range v.errs {
		if !bad[e.Line] {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
		return nil, errs
	}
	cfg.Warnings = v.warns
	cfg.computeVersion()
	return &cfg, nil
}

// syntaxErrors reports a YAML syntax error at the line where it is: the
// decoder's own line is that of the enclosing block for some errors, so
// the file is parsed again by a parser that keeps exact positions.
func syntaxErrors(file string, doc []byte, err error) Errors {
	if _, perr := goccyparser.ParseBytes(doc, 0); perr != nil {
		var se *goccy.SyntaxError
		if errors.As(perr, &se) && se.Token != nil {
			return Errors{{File: file, Line: se.Token.Position.Line, Msg: "YAML syntax: " + se.Message}}
		}
	}
	return yamlErrors(file, err)
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expandEnv replaces ${VAR} and ${VAR:-default} in the text. An unset
// variable without a default is an error; a value with a newline is refused
// so that line numbers stay true.
func expandEnv(file string, raw []byte, lookup func(string) (string, bool)) ([]byte, Errors) {
	var errs Errors
	lines := bytes.Split(raw, []byte("\n"))
	for i, line := range lines {
		if bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			continue
		}
		lines[i] = envRef.ReplaceAllFunc(line, func(m []byte) []byte {
			sub := envRef.FindSubmatch(m)
			name := string(sub[1])
			val, ok := lookup(name)
			if !ok || val == "" {
				if sub[2] == nil {
					errs = append(errs, FieldError{File: file, Line: i + 1, Msg: fmt.Sprintf("environment variable %s is not set", name)})
					return nil
				}
				val = string(sub[3])
			}
			if strings.ContainsAny(val, "\r\n") {
				errs = append(errs, FieldError{File: file, Line: i + 1, Msg: fmt.Sprintf("environment variable %s holds a line break", name)})
				return nil
			}
			return []byte(val)
		})
	}
	return bytes.Join(lines, []byte("\n")), errs
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlErrors turns a yaml error into FieldErrors with their lines.
func yamlErrors(file string, err error) Errors {
	var te *yaml.TypeError
	var msgs []string
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	var out Errors
	for _, m := range msgs {
		fe := FieldError{File: file, Msg: strings.TrimPrefix(m, "yaml: ")}
		if g := yamlLine.FindStringSubmatch(strings.TrimSpace(m)); g != nil {
			fe.Line, _ = strconv.Atoi(g[1])
			fe.Msg = g[2]
		}
		fe.Msg = plainMessage(fe.Msg)
		out = append(out, fe)
	}
	return out
}

var (
	cannotUnmarshal = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `([^`]*)`)? into (\\S+)$")
	unknownField    = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	alreadySet      = regexp.MustCompile(`^mapping key "([^"]*)" already defined at line (\d+)$`)
)

// plainMessage says a decoder's complaint in the configuration's words,
// without the program's type names.
func plainMessage(m string) string {
	if g := unknownField.FindStringSubmatch(m); g != nil {
		return fmt.Sprintf("unknown field %q", g[1])
	}
	if g := alreadySet.FindStringSubmatch(m); g != nil {
		return fmt.Sprintf("%q is set twice (first on line %s)", g[1], g[2])
	}
	g := cannotUnmarshal.FindStringSubmatch(m)
	if g == nil {
		return m
	}
	got := map[string]string{"str": "the text", "int": "the number", "float": "the number", "bool": "the value", "seq": "a list",
		"map": "a mapping", "null": "nothing", "timestamp": "the time"}[g[1]]
	if got == "" {
		got = "a value"
	}
	if g[2] != "" {
		got += " " + strconv.Quote(g[2])
	}
	want := "a mapping of fields"
	switch into := g[3]; {
	case strings.HasPrefix(into, "[]"):
		want = "a list"
	case strings.HasPrefix(into, "map["):
		want = "a mapping"
	case strings.HasPrefix(into, "int"), strings.HasPrefix(into, "uint"):
		want = "a whole number"
	case strings.HasPrefix(into, "float"):
		want = "a number"
	case into == "bool":
		want = "true or false"
	case into == "string":
		want = "a text value"
	}
	return fmt.Sprintf("expected %s, got %s", want, got)
}

// UnmarshalYAML parses "90s", "1m30s" or a bare number of seconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: expected a duration such as 30s or 1m", n.Line)}}
	}
	if secs, err := strconv.ParseFloat(n.Value, 64); err == nil {
		*d = Duration(secs * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not a duration (use 30s, 1m, 1h30m)", n.Line, n.Value)}}
	}
	*d = Duration(v)
	return nil
}
