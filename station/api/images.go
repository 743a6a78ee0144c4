package api

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
)

// ImageFunc returns one stored image of an open session: its bytes and
// content type. Any error answers 404: the caller cannot tell a session
// that does not exist from an image that is not the session's.
type ImageFunc func(ctx context.Context, session, file string) (data []byte, contentType string, err error)

// Session ids are 32 hex digits; stored images are named by their content
// ("finger02-<16 hex>.png", "face-<16 hex>.jpeg", "except06-…"). Anything
// else, in particular "..", a slash or a percent-encoded one, is refused
// before it reaches the session store.
var (
	sessionIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)
	imageNamePattern = regexp.MustCompile(`^[a-z]{1,12}[0-9]{0,2}-[0-9a-f]{16}\.(png|jpeg)$`)
)

// ImageURL is where the operator UI fetches a session's stored image.
func ImageURL(session, file string) string {
	return "/api/sessions/" + session + "/images/" + file
}

// apiImage serves GET /api/sessions/{session}/images/{file}: the images a
// page reloaded on the review step shows again. Biometric images: never
// cached by the browser.
func (s *Server) apiImage(w http.ResponseWriter, r *http.Request, _ User) {
	sid, file := r.PathValue("session"), r.PathValue("file")
	if s.opts.Images == nil || !sessionIDPattern.MatchString(sid) || !imageNamePattern.MatchString(file) {
		writeError(w, http.StatusNotFound, "not_found", "no such image")
		return
	}
	data, ctype, err := s.opts.Images(r.Context(), sid, file)
	if err != nil {
		writeError(w, http.StatusNotFound, "not_found", "no such image of an open session")
		return
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.Itoa(len(data)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	w.Write(data)
}
