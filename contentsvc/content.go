package contentsvc

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/nines-sre/nines/internal/atomicfile"
)

var contentID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ManifestEntry points at one published content version.
type ManifestEntry struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	URL     string `json:"url"`
}

// Manifest lists, for one segment, the newest published version of every
// content item published to it.
type Manifest struct {
	Segment   string          `json:"segment"`
	UpdatedAt time.Time       `json:"updated_at"`
	Content   []ManifestEntry `json:"content"`
}

// AuditEntry records one edit or publish.
type AuditEntry struct {
	At       time.Time `json:"at"`
	Action   string    `json:"action"` // edit or publish
	Content  string    `json:"content"`
	Version  int       `json:"version,omitempty"`
	Segments []string  `json:"segments,omitempty"`
	Actor    string    `json:"actor"`
}

func (s *Service) draftPath(id string) string { return filepath.Join(s.dataDir, "drafts", id+".json") }

func badRequest(c echo.Context, format string, args ...any) error {
	return c.JSON(http.StatusBadRequest, map[string]string{"error": fmt.Sprintf(format, args...)})
}

func actor(c echo.Context) string {
	if a := c.Request().Header.Get("X-Actor"); a != "" {
		return a
	}
	return "api"
}

// putDraft stores a draft: a JSON object with a string title.
func (s *Service) putDraft(c echo.Context) error {
	id := c.Param("id")
	if !contentID.MatchString(id) {
		return badRequest(c, "id: %q is not a content id (lower-case letters, digits, '-', '_')", id)
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, 1<<20+1))
	if err != nil {
		return badRequest(c, "body: %v", err)
	}
	if len(body) > 1<<20 {
		return badRequest(c, "body: larger than 1 MiB")
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		return badRequest(c, "body: not a JSON object: %v", err)
	}
	if t, ok := doc["title"].(string); !ok || strings.TrimSpace(t) == "" {
		return badRequest(c, "title: a non-empty string is required")
	}
	s.contentMu.Lock()
	defer s.contentMu.Unlock()
	if err := atomicfile.Write(s.draftPath(id), body); err != nil {
		return err
	}
	if err := s.audit(AuditEntry{Action: "edit", Content: id, Actor: actor(c)}); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"id": id, "draft": doc})
}

func (s *Service) getDraft(c echo.Context) error {
	id := c.Param("id")
	if !contentID.MatchString(id) {
		return badRequest(c, "id: %q is not a content id", id)
	}
	b, err := os.ReadFile(s.draftPath(id))
	if errors.Is(err, os.ErrNotExist) {
		return c.JSON(http.StatusNotFound, map[string]string{"error": "no draft of " + id})
	}
	if err != nil {
		return err
	}
	return c.JSONBlob(http.StatusOK, b)
}

// versions returns the published versions of id, ascending.
func (s *Service) versions(id string) ([]int, error) {
	entries, err := os.ReadDir(filepath.Join(s.cdnDir, "content", id))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range entries {
		if v, ok := strings.CutPrefix(strings.TrimSuffix(e.Name(), ".json"), "v"); ok {
			if n, err := strconv.Atoi(v); err == nil {
				out = append(out, n)
			}
		}
	}
	sort.Ints(out)
	return out, nil
}

// publish writes the draft as the next immutable version and points the
// named segments' manifests at it.
func (s *Service) publish(c echo.Context) error {
	id := c.Param("id")
	if !contentID.MatchString(id) {
		return badRequest(c, "id: %q is not a content id", id)
	}
	var req struct {
		Segments []string `json:"segments"`
	}
	dec := json.NewDecoder(io.LimitReader(c.Request().Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return badRequest(c, "body: %v (want {\"segments\": [...]})", err)
	}
	if len(req.Segments) == 0 {
		req.Segments = []string{Everyone}
	}
	for i, seg := range req.Segments {
		if !known(s.rules, seg) {
			return badRequest(c, "segments[%d]: unknown segment %q", i, seg)
		}
	}
	version, err := s.publishDraft(id, req.Segments, actor(c))
	if errors.Is(err, errNoDraft) {
		return c.JSON(http.StatusNotFound, map[string]string{"error": "no draft of " + id + " to publish"})
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"id": id, "version": version, "url": fmt.Sprintf("/cdn/content/%s/v%d.json", id, version), "segments": req.Segments})
}

var errNoDraft = errors.New("no draft")

// publishDraft writes the draft of id as its next immutable version, points
// the segments' manifests at it and records it in the audit log.
func (s *Service) publishDraft(id string, segments []string, by string) (int, error) {
	s.contentMu.Lock()
	defer s.contentMu.Unlock()
	draft, err := os.ReadFile(s.draftPath(id))
	if errors.Is(err, os.ErrNotExist) {
		return 0, errNoDraft
	}
	if err != nil {
		return 0, err
	}
	vs, err := s.versions(id)
	if err != nil {
		return 0, err
	}
	version := 1
	if len(vs) > 0 {
		version = vs[len(vs)-1] + 1
	}
	var doc map[string]any
	if err := json.Unmarshal(draft, &doc); err != nil {
		return 0, fmt.Errorf("draft of %s is corrupt: %w", id, err)
	}
	doc["id"], doc["version"] = id, version
	body, _ := json.MarshalIndent(doc, "", "  ")
	path := filepath.Join(s.cdnDir, "content", id, fmt.Sprintf("v%d.json", version))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644) // versions are immutable
	if err != nil {
		return 0, fmt.Errorf("publish %s v%d: %w", id, version, err)
	}
	if _, err := f.Write(append(body, '\n')); err != nil {
		f.Close()
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	for _, seg := range segments {
		if err := s.pointManifest(seg, ManifestEntry{ID: id, Version: version, URL: fmt.Sprintf("/cdn/content/%s/v%d.json", id, version)}); err != nil {
			return 0, err
		}
	}
	return version, s.audit(AuditEntry{Action: "publish", Content: id, Version: version, Segments: segments, Actor: by})
}

func (s *Service) pointManifest(segment string, e ManifestEntry) error {
	path := filepath.Join(s.cdnDir, "manifests", segment+".json")
	m := Manifest{Segment: segment}
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("manifest %s is corrupt: %w", segment, err)
		}
	}
	replaced := false
	for i := range m.Content {
		if m.Content[i].ID == e.ID {
			m.Content[i], replaced = e, true
		}
	}
	if !replaced {
		m.Content = append(m.Content, e)
	}
	m.UpdatedAt = s.now().UTC()
	b, _ := json.MarshalIndent(m, "", "  ")
	return atomicfile.Write(path, append(b, '\n'))
}

func (s *Service) audit(e AuditEntry) error {
	e.At = s.now().UTC()
	b, _ := json.Marshal(e)
	f, err := os.OpenFile(filepath.Join(s.dataDir, "audit.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	defer f.Close()
	_, err = f.Write(append(b, '\n'))
	return err
}

func (s *Service) auditLog(c echo.Context) error {
	f, err := os.Open(filepath.Join(s.dataDir, "audit.log"))
	entries := []AuditEntry{}
	if err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var e AuditEntry
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				entries = append(entries, e)
			}
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"entries": entries})
}
