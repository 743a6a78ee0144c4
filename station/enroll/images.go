package enroll

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/openenroll/stationd/station/api"
	"github.com/openenroll/stationd/station/session"
)

// StoredImage is one image a session keeps, as session.images lists it:
// what the review step shows after the page was reloaded, when the
// previews the browser had are gone.
type StoredImage struct {
	Kind     string `json:"kind"` // face, finger, exception (the photo of the hand), slap
	Position int    `json:"position,omitempty"`
	Name     string `json:"name,omitempty"`
	File     string `json:"file"`
	URL      string `json:"url"` // GET it with the login (docs/api.md)
	Format   string `json:"format"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
	Score    int    `json:"score"`
	Attempts int    `json:"attempts"`
	// Segments place each finger on a slap image (kind slap, position
	// 13-15).
	Segments []session.Segment `json:"segments,omitempty"`
}

// ErrNoImage is returned for an image that is not one of an open session's.
var ErrNoImage = errors.New("enroll: no such image of an open session")

// sessionImages lists what s keeps: the portrait, each finger's best
// attempt, the photos of hands with an exception, and the whole slaps with
// their fingers' segments.
func sessionImages(s *session.Session) []StoredImage {
	out := []StoredImage{}
	add := func(kind string, pos, attempts int, im *session.Image, segs ...session.Segment) {
		if im == nil || im.File == "" {
			return
		}
		si := StoredImage{Kind: kind, Position: pos, File: im.File, URL: api.ImageURL(s.ID, im.File), Format: im.Format,
			Width: im.Width, Height: im.Height, Score: im.Score, Attempts: attempts, Segments: segs}
		if pos > 0 {
			si.Name = session.FingerName(pos)
		}
		out = append(out, si)
	}
	if s.Face != nil {
		add("face", 0, s.Face.Attempts, &s.Face.Image)
	}
	for _, pos := range s.Policy.FingerOrder {
		f := s.Fingers[pos]
		if f == nil {
			continue
		}
		add("finger", pos, len(f.Attempts), f.Best)
		if f.Exception != nil {
			add("exception", pos, len(f.Attempts), f.Exception.Photo)
		}
	}
	for _, pos := range session.SlapPositions {
		if sl := s.Slaps[pos]; sl != nil {
			add("slap", pos, 1, &sl.Image, sl.Segments...)
		}
	}
	return out
}

func (c *Controller) cmdImages(ctx context.Context, p json.RawMessage) (any, error) {
	in, err := decode[sessionRef](p)
	if err != nil {
		return nil, err
	}
	s, err := c.opts.Sessions.Get(in.Session)
	if err != nil {
		return nil, coded(err)
	}
	return map[string]any{"session": s.ID, "images": sessionImages(s), "summary": s.Summary()}, nil
}

// Image returns one of an open session's stored images and its content
// type, for the API's image route. Only a file the session's state refers
// to is read: a name that merely exists beside it (a superseded attempt,
// the session's state, its packet) is ErrNoImage.
func (c *Controller) Image(ctx context.Context, sid, file string) ([]byte, string, error) {
	s, err := c.opts.Sessions.Get(sid)
	if err != nil {
		return nil, "", ErrNoImage
	}
	for _, im := range sessionImages(s) {
		if im.File != file {
			continue
		}
		b, err := c.opts.Sessions.ReadBlob(sid, file)
		if err != nil {
			return nil, "", err
		}
		ctype := "image/png"
		if im.Format == "jpeg" {
			ctype = "image/jpeg"
		}
		return b, ctype, nil
	}
	return nil, "", ErrNoImage
}
