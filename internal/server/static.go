package server

import (
	"net/http"
	"strings"

	"github.com/dirsync/dirsync/web"
)

// static serves the embedded assets. A request carrying the current
// content hash (?v=, as web.Asset writes it) may be cached for a year;
// any other must be revalidated. Directories are not listed.
func (s *Server) static() http.Handler {
	files := http.FileServerFS(web.Static())
	return http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Path
		version := web.AssetVersion(name)
		if name == "" || strings.HasSuffix(name, "/") || version == "" {
			http.NotFound(w, r)
			return
		}
		if r.URL.Query().Get("v") == version {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		w.Header().Set("ETag", `"`+version+`"`)
		files.ServeHTTP(w, r)
	}))
}
