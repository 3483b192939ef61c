package dashboard

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Export writes the status page as static files to dir: index.html,
// status.json and the stylesheet, each replaced atomically, so that a web
// server or CDN in front of dir keeps serving a whole page while the
// controller is down.
func Export(ctx context.Context, src Source, dir string) error {
	p, err := src.StatusPage(ctx)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	html, err := RenderStatus(p)
	if err != nil {
		return fmt.Errorf("export: render: %w", err)
	}
	js, err := StatusJSON(p)
	if err != nil {
		return err
	}
	css, err := fs.ReadFile(assetFS, "assets/style.css")
	if err != nil {
		return err
	}
	for name, body := range map[string][]byte{"index.html": html, "status.json": js, "assets/style.css": css} {
		if err := writeAtomic(filepath.Join(dir, name), body); err != nil {
			return fmt.Errorf("export %s: %w", name, err)
		}
	}
	return nil
}

func writeAtomic(path string, body []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".export-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(body); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
