package sync

import (
	"context"
	"fmt"

	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory"
)

// CheckDirectory is the directory section's "Check connection": the
// chosen type's Check (sign in, count users and groups, a sample user)
// with settings s, saved or not, under the engine's user agent, logger and
// metrics. It answers within ctx's deadline.
func (e *Engine) CheckDirectory(ctx context.Context, s config.Settings) (*directory.CheckResult, error) {
	cur := s.Directory.Current()
	if cur == nil {
		return nil, fmt.Errorf("unsupported directory type %q", s.Directory.Type)
	}
	return cur.Check(ctx, e.DirectoryEnv(s))
}

// ExplainDirectory is what to check after an error of CheckDirectory or
// of a read: the chosen type's Explain (nil when it knows nothing
// better than the error's text).
func ExplainDirectory(s config.Settings, err error) *directory.Explanation {
	if cur := s.Directory.Current(); cur != nil {
		return cur.Explain(err)
	}
	return nil
}

// DirectoryFields are the field-path prefixes of the directory section:
// directory.type and every registered type's section.
func DirectoryFields() []string {
	out := []string{"directory."}
	for _, k := range directory.Kinds() {
		out = append(out, k.Name+".")
	}
	return out
}
