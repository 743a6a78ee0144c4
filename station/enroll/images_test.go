package enroll

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"image"
	"strings"
	"testing"

	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/station/session"
)

// session.images lists what a session keeps (portrait, each finger's kept
// attempt, the photo of an excused hand) and Image serves exactly those
// files: not a superseded attempt, not the session's state, not another
// session's image.
func TestStoredImagesOfASession(t *testing.T) {
	sm, err := session.Open(session.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	reg := devices.NewRegistry(devices.Options{})
	defer reg.Close()
	p := session.DefaultPolicy()
	p.ExceptionPhoto = false
	c := New(Options{Registry: reg, Sessions: sm, StationID: "b1", Policy: p})
	defer c.Close()
	ctx := context.Background()
	s, err := sm.Start("APP-IMG-1", "o1", "b1", p)
	if err != nil {
		t.Fatal(err)
	}
	other, err := sm.Start("APP-IMG-2", "o1", "b1", p)
	if err != nil {
		t.Fatal(err)
	}
	png := func(v byte) []byte { return append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{v}, 64)...) }
	add := func(sid string, pos, score int, data []byte) {
		t.Helper()
		if _, err := sm.AddFingerAttempt(sid, pos, session.Capture{Data: data, Format: "png", Width: 8, Height: 8, PPI: 500, Score: score}); err != nil {
			t.Fatal(err)
		}
	}
	add(s.ID, 2, 30, png(1))
	add(s.ID, 2, 80, png(2)) // kept: better
	add(s.ID, 2, 50, png(3)) // not kept
	add(other.ID, 3, 70, png(4))
	if _, err := sm.SetFace(s.ID, session.Capture{Data: []byte("\xff\xd8\xff face"), Format: "jpeg", Width: 480, Height: 600, Score: 77}); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.Except(s.ID, 6, session.Amputated, "since birth", []byte("\xff\xd8\xff hand")); err != nil {
		t.Fatal(err)
	}
	out, err := c.Commands()["session.images"](ctx, json.RawMessage(`{"session":"`+s.ID+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	imgs := out.(map[string]any)["images"].([]StoredImage)
	byKind := map[string]StoredImage{}
	for _, im := range imgs {
		byKind[im.Kind] = im
		if !strings.HasPrefix(im.URL, "/api/sessions/"+s.ID+"/images/") || !strings.HasSuffix(im.URL, im.File) {
			t.Errorf("%s url %q", im.Kind, im.URL)
		}
	}
	if len(imgs) != 3 || byKind["face"].Score != 77 || byKind["finger"].Position != 2 || byKind["finger"].Score != 80 ||
		byKind["finger"].Attempts != 3 || byKind["exception"].Position != 6 {
		t.Fatalf("images: %+v", imgs)
	}
	for _, im := range imgs {
		data, ctype, err := c.Image(ctx, s.ID, im.File)
		if err != nil || len(data) == 0 {
			t.Fatalf("%s: %v", im.File, err)
		}
		if want := map[string]string{"png": "image/png", "jpeg": "image/jpeg"}[im.Format]; ctype != want {
			t.Errorf("%s: content type %q", im.File, ctype)
		}
	}
	if data, _, _ := c.Image(ctx, s.ID, byKind["finger"].File); !bytes.Equal(data, png(2)) {
		t.Fatal("finger image is not the kept attempt")
	}
	// The kept image of the other session, asked through this one.
	otherImgs := sessionImages(mustGet(t, sm, other.ID))
	for _, bad := range [][2]string{
		{s.ID, otherImgs[0].File},
		{other.ID, byKind["finger"].File},
		{s.ID, "session.json"},
		{s.ID, "../" + other.ID + "/session.json"},
		{"00000000000000000000000000000000", byKind["face"].File},
	} {
		if _, _, err := c.Image(ctx, bad[0], bad[1]); !errors.Is(err, ErrNoImage) {
			t.Errorf("Image(%s, %s): %v, want ErrNoImage", bad[0], bad[1], err)
		}
	}
	// The superseded attempts stay on disk but are not served.
	first := "finger02-" + sha16(png(1)) + ".png"
	if b, err := sm.ReadBlob(s.ID, first); err != nil || len(b) == 0 {
		t.Fatalf("test assumption: attempt 1 stored as %s: %v", first, err)
	}
	if _, _, err := c.Image(ctx, s.ID, first); !errors.Is(err, ErrNoImage) {
		t.Fatalf("superseded attempt served: %v", err)
	}
	if _, err := c.Commands()["session.images"](ctx, json.RawMessage(`{"session":"nope"}`)); err == nil {
		t.Fatal("images of an unknown session")
	}
}

func mustGet(t *testing.T, sm *session.Manager, id string) *session.Session {
	t.Helper()
	s, err := sm.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestShrinkGrayAverages(t *testing.T) {
	g := image.NewGray(image.Rect(10, 20, 16, 24)) // offset bounds, 6x4
	for i := range g.Pix {
		g.Pix[i] = uint8(i * 10)
	}
	s := shrinkGray(g, 2)
	if s.Bounds() != image.Rect(0, 0, 3, 2) {
		t.Fatalf("bounds %v", s.Bounds())
	}
	// Top-left block: pixels 0, 1, 6, 7 of the row-major 6-wide image.
	if want := uint8((0 + 10 + 60 + 70) / 4); s.Pix[0] != want {
		t.Fatalf("block average %d, want %d", s.Pix[0], want)
	}
	if want := uint8((160 + 170 + 220 + 230) / 4); s.GrayAt(2, 1).Y != want {
		t.Fatalf("last block %d, want %d", s.GrayAt(2, 1).Y, want)
	}
	if shrinkGray(g, 1) != g {
		t.Fatal("factor 1 copies")
	}
}

func sha16(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])[:16]
}
