// Package browsertest drives Debian's Chromium through chromedp for the
// end-to-end tests: start a headless browser, collect console errors (a CSP
// violation is one), take screenshots, and keep the failure artifacts of a
// failed test (screenshot, page HTML, console errors) in a folder of its
// own, printed in the test's log.
//
// Tests wait on state, never on time: WaitVisible, WaitJS or a poll of the
// store, never a sleep, and nothing is clicked while a swap may replace it.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path finds Chromium. Outside CI a machine without it skips the test; in
// CI (CI=true) or when DIRSYNC_CHROMIUM names a browser, a missing one
// fails it, so a green CI run never hides skipped browser tests.
func Path(t testing.TB) string {
	t.Helper()
	want := os.Getenv("DIRSYNC_CHROMIUM")
	if testing.Short() && want == "" && os.Getenv("CI") == "" {
		t.Skip("browser test skipped in -short mode")
	}
	for _, p := range []string{want, "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	if want != "" || os.Getenv("CI") != "" {
		t.Fatalf("Chromium not found (DIRSYNC_CHROMIUM=%q); install Debian's chromium package", want)
	}
	t.Skip("no Chromium found (install chromium or set DIRSYNC_CHROMIUM)")
	return ""
}

// Browser is one headless Chromium tab.
type Browser struct {
	// Ctx runs chromedp actions in the tab.
	Ctx context.Context
	t   testing.TB
	// tab outlives Ctx's deadline, so a failure screenshot can still be
	// taken after a step timed out.
	tab context.Context

	mu       sync.Mutex
	problems []string
}

// Start launches Chromium for the test with a fresh profile and the flags
// that keep it off the network, and stops it at the end of the test.
func Start(t testing.TB, timeout time.Duration) *Browser {
	t.Helper()
	return StartWith(t, timeout)
}

// NoJavaScript starts the browser with page scripts turned off, to check
// that every page works as plain HTML forms and links.
var NoJavaScript = chromedp.Flag("blink-settings", "scriptEnabled=false")

// StartWith is Start with extra browser flags.
func StartWith(t testing.TB, timeout time.Duration, extra ...chromedp.ExecAllocatorOption) *Browser {
	t.Helper()
	exe := Path(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
	)
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tabCtx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(tabCtx, timeout)
	b := &Browser{Ctx: ctx, t: t, tab: tabCtx}
	// The first action allocates the browser and binds it to its context:
	// use the tab's, so that a step's deadline does not close the browser.
	if err := chromedp.Do(tabCtx); err != nil {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
		t.Fatalf("start Chromium: %v", err)
	}
	msgCtx, stopMsgs := context.WithCancel(ctx)
	messages := chromedp.Console(msgCtx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.mu.Lock()
				b.problems = append(b.problems, m.String()+" ("+m.URL+")")
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		stopMsgs()
		cancelTimeout()
		cancelTab()
		cancelAlloc()
		<-done
	})
	// Registered last, so it runs first: the browser is still open.
	t.Cleanup(func() {
		if t.Failed() {
			b.saveArtifacts()
		}
	})
	return b
}

// Problems returns the console errors and exceptions seen so far.
func (b *Browser) Problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.problems...)
}

// Sel is the CSS selector of a data-testid.
func Sel(id string) string { return `[data-testid="` + id + `"]` }

// StepTimeout bounds one Do step, so a hung step fails fast with its name.
const StepTimeout = 30 * time.Second

// Do runs actions as one named step, failing the test on error.
func (b *Browser) Do(name string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, StepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", name, err)
	}
}

// Text returns the text of the element with a data-testid.
func (b *Browser) Text(id string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, StepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(Sel(id)))
	// During a navigation the node or the page's execution context can
	// vanish under the query ("No node with given id", "Cannot find
	// context"); ask again while the step's time lasts.
	for err != nil && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
		s, err = chromedp.Run(ctx, chromedp.Text(Sel(id)))
	}
	if err != nil {
		b.t.Fatalf("text of %s: %v", id, err)
	}
	return strings.TrimSpace(s)
}

// WaitJS polls a JavaScript condition until it is true.
func (b *Browser) WaitJS(name, expr string, timeout time.Duration) {
	b.t.Helper()
	if _, err := chromedp.Run(b.Ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(timeout))); err != nil {
		b.t.Fatalf("%s: %v", name, err)
	}
}

// Screenshot saves a full-page PNG.
func (b *Browser) Screenshot(path string) error {
	ctx, cancel := context.WithTimeout(b.tab, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	return os.WriteFile(path, png, 0o600)
}

// saveArtifacts writes what the page looked like when the test failed: a
// screenshot, its HTML, its URL and the console errors.
func (b *Browser) saveArtifacts() {
	dir := ArtifactDir(b.t)
	if dir == "" {
		return
	}
	var saved []string
	if err := b.Screenshot(filepath.Join(dir, "screenshot.png")); err != nil {
		b.t.Logf("could not save a failure screenshot: %v", err)
	} else {
		saved = append(saved, "screenshot.png")
	}
	ctx, cancel := context.WithTimeout(b.tab, 10*time.Second)
	defer cancel()
	if html, err := chromedp.Run(ctx, chromedp.OuterHTML("html")); err == nil {
		if url, err := chromedp.Run(ctx, chromedp.Location()); err == nil {
			html = "<!-- " + url + " -->\n" + html
		}
		if os.WriteFile(filepath.Join(dir, "page.html"), []byte(html), 0o600) == nil {
			saved = append(saved, "page.html")
		}
	}
	if p := b.Problems(); len(p) > 0 {
		if os.WriteFile(filepath.Join(dir, "console.txt"), []byte(strings.Join(p, "\n")+"\n"), 0o600) == nil {
			saved = append(saved, "console.txt")
		}
	}
	if len(saved) > 0 {
		b.t.Logf("failure artifacts in %s: %s", dir, strings.Join(saved, ", "))
	}
}

// artifactDirs holds each failed test's folder, made on first use.
var artifactDirs sync.Map // test (each run of it, with -count) → folder

// ArtifactDir returns the folder for the failure artifacts of t, created
// on first use: $DIRSYNC_ARTIFACTS/<test name> when that is set (CI keeps
// it), else a new folder under the system's temporary folder that outlives
// the test (t.TempDir would be removed before anyone could look). Folders
// are per test and per run, so concurrent runs never overwrite each
// other's. It returns "" (and logs why) if no folder can be made.
func ArtifactDir(t testing.TB) string {
	name := strings.NewReplacer("/", "_", " ", "_", string(os.PathSeparator), "_").Replace(t.Name())
	if d, ok := artifactDirs.Load(t); ok {
		return d.(string)
	}
	var dir string
	var err error
	if root := os.Getenv("DIRSYNC_ARTIFACTS"); root != "" {
		dir = filepath.Join(root, name)
		err = os.MkdirAll(dir, 0o750) //nolint:gosec // G703: CI names the artifacts folder
	} else {
		dir, err = os.MkdirTemp("", "dirsync-artifacts-"+name+"-")
	}
	if err != nil {
		t.Logf("no folder for failure artifacts: %v", err)
		return ""
	}
	actual, _ := artifactDirs.LoadOrStore(t, dir)
	return actual.(string)
}

// SaveOnFailure writes data() to name in the test's artifact folder if the
// test fails (e.g. the console's log). Register it after Start, so that it
// runs before the browser closes.
func SaveOnFailure(t testing.TB, name string, data func() []byte) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		dir := ArtifactDir(t)
		if dir == "" {
			return
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data(), 0o600); err != nil {
			t.Logf("could not save %s: %v", name, err)
			return
		}
		t.Logf("failure artifact: %s", path)
	})
}
