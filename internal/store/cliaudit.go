package store

import (
	"context"
	"os"
	"os/user"
	"time"
)

// CLIActor is the audit actor of every command-line action.
const CLIActor = "cli"

// OSUser names who runs this process ("alice@build-01"): the console's
// audit log shows it in the address column of command-line actions, which
// have no admin session to name.
func OSUser() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if name == "" {
		name = "unknown user"
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		name += "@" + h
	}
	return "os user " + name
}

// AddCLIAudit records a command-line action: actor "cli", the OS user
// and host in the address column.
func (s *Store) AddCLIAudit(ctx context.Context, action, detail string) error {
	return s.AddAudit(ctx, AuditEntry{At: time.Now().UTC(), Actor: CLIActor, Action: action, Detail: detail, RemoteAddr: OSUser()})
}
