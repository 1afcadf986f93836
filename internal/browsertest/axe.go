package browsertest

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// axeSource is axe-core (see axe/README.md), injected into pages by the
// accessibility checks; the console never serves it.
//
//go:embed axe/axe.min.js
var axeSource string

// AxeViolation is one axe-core rule a page breaks, with the nodes that
// break it.
type AxeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  []any  `json:"target"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// String names the rule and the first nodes, for a test failure.
func (v AxeViolation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s", v.ID, v.Impact, v.Help)
	for i, n := range v.Nodes {
		if i == 3 {
			fmt.Fprintf(&b, "; … %d more", len(v.Nodes)-i)
			break
		}
		fmt.Fprintf(&b, "; %v: %s", n.Target, strings.ReplaceAll(n.Summary, "\n", " "))
	}
	return b.String()
}

// Axe runs axe-core on the current page (injecting it first when the page
// does not have it yet) and returns the violations whose impact is one of
// impacts (all of them when none is given).
func (b *Browser) Axe(impacts ...string) []AxeViolation {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, StepTimeout)
	defer cancel()
	has, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof window.axe === "object"`))
	if err != nil {
		b.t.Fatalf("axe: %v", err)
	}
	if !has {
		// Evaluated through the DevTools protocol, so the page's CSP does
		// not apply to it.
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](axeSource+";undefined")); err != nil {
			b.t.Fatalf("inject axe-core: %v", err)
		}
	}
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("run axe-core: %v", err)
	}
	var all []AxeViolation
	if err := json.Unmarshal([]byte(raw), &all); err != nil {
		b.t.Fatalf("axe-core result: %v", err)
	}
	if len(impacts) == 0 {
		return all
	}
	var out []AxeViolation
	for _, v := range all {
		for _, want := range impacts {
			if v.Impact == want {
				out = append(out, v)
				break
			}
		}
	}
	return out
}

// Viewport sets the tab's size; mobile also emulates a phone (touch,
// the viewport meta tag honoured).
func (b *Browser) Viewport(width, height int64, mobile bool) {
	b.t.Helper()
	opts := []chromedp.EmulateViewportOption{chromedp.EmulatePortrait}
	if mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	b.Do(fmt.Sprintf("viewport %dx%d", width, height), chromedp.EmulateViewport(width, height, opts...))
}

// ColorScheme makes the page see prefers-color-scheme: dark (or light),
// with reduced motion, so colours do not fade from one theme to the
// other while axe-core measures contrast.
func (b *Browser) ColorScheme(dark bool) {
	b.t.Helper()
	v := "light"
	if dark {
		v = "dark"
	}
	b.Do("color scheme "+v, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{
				{Name: "prefers-color-scheme", Value: v},
				{Name: "prefers-reduced-motion", Value: "reduce"},
			},
		})
		return err
	}))
}

// HorizontalOverflow returns by how many CSS pixels the page is wider
// than the viewport (0: no sideways scrolling), and the widest elements
// sticking out, for the failure message.
func (b *Browser) HorizontalOverflow() (int, []string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, StepTimeout)
	defer cancel()
	type result struct {
		Over    int      `json:"over"`
		Culprit []string `json:"culprits"`
	}
	// An element inside a scrolling container does not widen the page, so
	// only elements whose right edge passes the viewport while no ancestor
	// clips them count as culprits.
	r, err := chromedp.Run(ctx, chromedp.Evaluate[result](`(() => {
		const de = document.documentElement;
		const over = Math.max(de.scrollWidth, document.body.scrollWidth) - de.clientWidth;
		const culprits = [];
		if (over > 0) {
			const clipped = el => { for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) { const o = getComputedStyle(p).overflowX; if (o !== "visible") return true; } return false; };
			for (const el of document.body.querySelectorAll("*")) {
				const rect = el.getBoundingClientRect();
				if (rect.right > de.clientWidth + 1 && !clipped(el)) {
					culprits.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className && typeof el.className === "string" ? "." + el.className.split(" ").join(".") : "") + (el.dataset.testid ? "[" + el.dataset.testid + "]" : "") + " right=" + Math.round(rect.right));
					if (culprits.length >= 5) break;
				}
			}
		}
		return {over, culprits};
	})()`))
	if err != nil {
		b.t.Fatalf("measure horizontal overflow: %v", err)
	}
	return r.Over, r.Culprit
}
