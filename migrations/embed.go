// Package migrations holds dirsync's numbered SQLite schema migrations,
// embedded so that the binary can apply them at start (goose v3 Provider).
package migrations

import "embed"

// FS holds every *.sql migration in this folder.
//
//go:embed *.sql
var FS embed.FS
