// Package sqlitetest opens throwaway SQLite stores for tests.
package sqlitetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/nines-sre/nines/controller/store/sqlite"
)

// Open returns a store on a new file in the test's temporary directory,
// closed when the test ends.
func Open(t testing.TB) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "nines.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
