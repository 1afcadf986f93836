package app

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/dirsync/dirsync/"

// TestPackageImports checks the dependency rules of docs/architecture.md
// on every non-test file of the module.
func TestPackageImports(t *testing.T) {
	root := filepath.Join("..", "..")
	imports := map[string]map[string]bool{} // package dir → project imports
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := filepath.ToSlash(rel)
		if imports[pkg] == nil {
			imports[pkg] = map[string]bool{}
		}
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			if rest, ok := strings.CutPrefix(p, module); ok {
				imports[pkg][rest] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(imports) < 15 {
		t.Fatalf("only %d packages found under %s", len(imports), root)
	}
	under := func(p, prefix string) bool { return p == prefix || strings.HasPrefix(p, prefix+"/") }
	rules := []struct {
		what    string
		applies func(pkg string) bool
		bad     func(imp string) bool
	}{
		{"a directory package never imports Bitwarden, the engine, the store or the web side",
			func(p string) bool { return under(p, "internal/directory") },
			func(i string) bool {
				return under(i, "internal/bitwarden") || under(i, "internal/sync") || under(i, "internal/store") || under(i, "internal/server") || i == "web"
			}},
		{"the Bitwarden client never imports a directory package",
			func(p string) bool { return under(p, "internal/bitwarden") },
			func(i string) bool { return under(i, "internal/directory") || under(i, "internal/sync") }},
		{"only the server imports web",
			func(p string) bool { return p != "internal/server" },
			func(i string) bool { return i == "web" }},
		{"nothing below the server knows the server or the app",
			func(p string) bool { return !under(p, "cmd") && p != "internal/app" && p != "internal/server" },
			func(i string) bool { return i == "internal/server" || i == "internal/app" }},
		{"config and the store stay at the bottom",
			func(p string) bool { return p == "internal/config" || p == "internal/store" },
			func(i string) bool {
				return i != "internal/directory" && i != "internal/config" && i != "internal/secret" && i != "migrations"
			}},
		{"the BDC converter knows only the settings",
			func(p string) bool { return p == "internal/bdc" },
			func(i string) bool { return i != "internal/config" && i != "internal/secret" }},
		{"only the type packages, internal/directory/all, the demo and the fakes know a directory type by name (docs/architecture.md, Adding a directory type)",
			func(p string) bool {
				return p == "internal/config" || p == "internal/store" || p == "internal/sync" || p == "internal/metrics" || p == "internal/server" ||
					p == "internal/schedule" || p == "internal/alert" || p == "cmd/dirsync"
			},
			func(i string) bool { return under(i, "internal/directory/okta") || under(i, "internal/directory/ldap") }},
		{"the fake directory type is for tests only",
			func(string) bool { return true },
			func(i string) bool { return i == "internal/directory/dirtest" }},
		{"the directory model imports only the secret type",
			func(p string) bool { return p == "internal/directory" },
			func(i string) bool { return i != "internal/secret" }},
		{"leaf packages import nothing of the project",
			func(p string) bool {
				switch p {
				case "internal/secret", "internal/auth", "internal/logctx", "internal/directory/okta/oktatest", "internal/directory/ldap/ldaptest", "internal/directory/okta/oauthkey", "internal/browsertest", "migrations", "web":
					return true
				}
				return false
			},
			func(string) bool { return true }},
	}
	for pkg, ims := range imports {
		for _, r := range rules {
			if !r.applies(pkg) {
				continue
			}
			for im := range ims {
				if r.bad(im) {
					t.Errorf("%s imports %s: %s (docs/architecture.md)", pkg, im, r.what)
				}
			}
		}
	}
	if _, err := os.Stat(filepath.Join(root, "docs", "architecture.md")); err != nil {
		t.Errorf("docs/architecture.md: %v", err)
	}
}
