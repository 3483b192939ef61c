// Package sqlitedb opens SQLite files (mattn/go-sqlite3) the way nines
// uses them: WAL, a busy timeout, write transactions that take the lock
// at their start.
package sqlitedb

import (
	"database/sql"
	"fmt"
	"net/url"

	_ "github.com/mattn/go-sqlite3" // the driver
)

// Sync is how a commit reaches the disk: Normal survives the process's
// death (WAL), Full a power cut too.
type Sync string

// Sync levels.
const (
	Normal Sync = "NORMAL"
	Full   Sync = "FULL"
)

// Open opens (creating if needed) the SQLite file at path; foreignKeys
// turns their enforcement on.
func Open(path string, sync Sync, foreignKeys bool) (*sql.DB, error) {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", string(sync))
	q.Set("_busy_timeout", "10000")
	q.Set("_txlock", "immediate")
	if foreignKeys {
		q.Set("_foreign_keys", "on")
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}
