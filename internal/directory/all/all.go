// Package all links every directory type into a binary: each type
// package registers its Kind in its init function, and importing this
// package for its side effect is the one place that names them. The
// command, the app and tests that need real types import it; config, the
// store, the engine and the console never name a type.
package all

import (
	// Okta (internal/directory/okta/settings.go registers it).
	_ "github.com/dirsync/dirsync/internal/directory/okta"
	// LDAP and Active Directory (internal/directory/ldap/kind.go
	// registers it).
	_ "github.com/dirsync/dirsync/internal/directory/ldap"
)
