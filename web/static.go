// Package web holds the console's templ components and its static assets
// (our CSS plus vendored htmx, its SSE extension and Pico CSS). Only
// internal/server imports it.
package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"path"
)

//go:embed static
var staticFiles embed.FS

// assetVersions maps a path under static/ to the first 12 hex digits of
// its SHA-256, computed once at start.
var assetVersions = func() map[string]string {
	m := map[string]string{}
	err := fs.WalkDir(staticFiles, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFiles.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		m[p[len("static/"):]] = hex.EncodeToString(sum[:])[:12]
		return nil
	})
	if err != nil {
		panic("web: hash embedded assets: " + err.Error())
	}
	return m
}()

// Static returns the embedded asset tree, rooted so that "app.css" is
// static/app.css.
func Static() fs.FS {
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		panic("web: static sub-tree: " + err.Error())
	}
	return sub
}

// AssetVersion returns the content hash of the asset at name (a path under
// static/, e.g. "app.css"), or "" if there is no such asset.
func AssetVersion(name string) string {
	return assetVersions[path.Clean(name)]
}

// Asset returns the URL of an embedded asset with its content hash as a
// ?v= query, so the server can let browsers cache it for a year and an
// upgrade still reaches them.
func Asset(name string) string {
	name = path.Clean(name)
	if v := assetVersions[name]; v != "" {
		return "/static/" + name + "?v=" + v
	}
	return "/static/" + name
}
