package server

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"

	"github.com/a-h/templ"

	"github.com/dirsync/dirsync/web"
)

// isHTMX reports an htmx request. Boosted requests are whole-page
// navigations and get the full page, and so do history restores (htmx
// reloading a pushed URL that fell out of its cache swaps the whole body).
func isHTMX(r *http.Request) bool {
	return r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-Boosted") != "true" &&
		r.Header.Get("HX-History-Restore-Request") != "true"
}

// page builds the layout data for a page and takes the pending flashes.
func (s *Server) page(r *http.Request, title, nav string) web.Page {
	rs := sessionFrom(r)
	return web.Page{Title: title, Nav: nav, User: rs.user, Flashes: rs.popFlashes(), Version: s.cfg.Version}
}

// render writes content framed by the layout with the given status, or,
// for an htmx request, the content alone with the flash area out of band.
// The body is rendered to memory first so a template error becomes a
// clean 500.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, p web.Page, content templ.Component) {
	frame := web.Layout(p)
	if isHTMX(r) {
		frame = web.Fragment(p)
	}
	var buf bytes.Buffer
	if err := frame.Render(templ.WithChildren(r.Context(), content), &buf); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.writeHTML(w, status, buf.Bytes())
}

// renderFragment writes a component with no layout (htmx partials).
func (s *Server) renderFragment(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	var buf bytes.Buffer
	if err := c.Render(r.Context(), &buf); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.writeHTML(w, status, buf.Bytes())
}

func (s *Server) writeHTML(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// flash queues a message for the next page the admin sees.
func (s *Server) flash(r *http.Request, kind, msg string) {
	sessionFrom(r).addFlash(kind, msg)
}

// redirect ends a successful POST (post/redirect/get): 303 for a plain
// request, HX-Redirect for htmx so the browser loads the whole page.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, to string) {
	if isHTMX(r) {
		w.Header().Set("HX-Redirect", to)
		w.WriteHeader(http.StatusOK)
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther) //nolint:gosec // G710: callers pass our own paths (a next went through localPath)
}

// serverError logs err with the request id and shows a page that names
// only the id. err must not hold secrets; store and config errors don't.
func (s *Server) serverError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err, "request_id", requestIDFrom(r.Context()))
	s.renderError(w, r, http.StatusInternalServerError, "Something went wrong",
		"dirsync could not complete this request. The server log has the details under the request id below.")
}

// renderError shows an error page with the layout.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, status int, heading, msg string) {
	p := s.page(r, heading, "")
	e := web.ErrorPage{Status: status, Heading: heading, Message: msg, RequestID: requestIDFrom(r.Context())}
	var buf bytes.Buffer
	if err := web.Layout(p).Render(templ.WithChildren(r.Context(), web.Error(e)), &buf); err != nil {
		s.log.Error("render error page", "err", err)
		http.Error(w, heading, status)
		return
	}
	s.writeHTML(w, status, buf.Bytes())
}

// localPath returns the path and query of raw if it is a same-site path
// ("/x?y"), or "" when it could lead elsewhere. It guards ?next= against
// open redirects.
func localPath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if u.IsAbs() || u.Host != "" {
		// Full URLs (HX-Current-URL) count only for their path.
		u = &url.URL{Path: u.Path, RawQuery: u.RawQuery}
	}
	p := u.Path
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.Contains(p, "\\") {
		return ""
	}
	if strings.HasPrefix(p, "/login") || strings.HasPrefix(p, "/setup") || strings.HasPrefix(p, "/logout") {
		return ""
	}
	out := u.EscapedPath()
	if u.RawQuery != "" {
		out += "?" + u.RawQuery
	}
	return out
}

func loginURL(next string) string {
	if next == "" || next == "/" {
		return "/login"
	}
	return "/login?next=" + url.QueryEscape(next)
}
