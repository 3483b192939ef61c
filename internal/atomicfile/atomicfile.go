// Package atomicfile writes files so that a reader sees either the old
// content or the new one, whole: a temporary file in the same directory,
// renamed over the old.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with body (mode 0644), creating its directory.
func Write(path string, body []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
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
