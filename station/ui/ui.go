// Package ui is the operator UI and technician console that stationd
// serves at /: static HTML, CSS and plain JavaScript (no build step),
// embedded in the binary. The page talks to stationd over the websocket
// API of docs/api.md; everything it shows comes from there.
package ui

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Files is the UI's file tree (index.html, app.js, style.css, i18n.json).
func Files() fs.FS {
	f, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	return f
}

// contentSecurityPolicy allows the page only its own scripts and
// connections (the websocket to the same host), images it made itself from
// preview frames (blob:), and no framing by other sites (clickjacking).
// Inline style attributes are allowed: the page positions the face box.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' blob: data:; " +
	"style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// Handler serves the UI. The files need no login: they hold no data, and
// the login page is one of them.
func Handler() http.Handler {
	files := http.FileServerFS(Files())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		// The files change with the binary: always revalidate.
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
