package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openenroll/stationd/cmd/internal/simrig"
	"github.com/openenroll/stationd/internal/pcscdtest"
)

// copyKey copies a committed test key to a private file: git keeps no
// 0600 mode, and stationd refuses keys others can read.
func copyKey(t *testing.T, src string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

// The portrait step on the simulated camera (auto-capture when the person
// sits still), then a blank chip card personalized from the enrollment
// through pcscd and read back, then finalize.
func TestEndToEndFaceAndCardPersonalization(t *testing.T) {
	binaries(t)
	pcscdtest.ForTest(t)
	rig, keys := newRig(t)
	ctx := context.Background()
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	sample := filepath.Join(root, "testdata", "card", "sample")
	if _, err := rig.StartCard(ctx, ""); err != nil { // blank card
		t.Fatal(err)
	}
	// Nobody, then the person sits down and holds still.
	script := "empty 1s\nsit 1s\nhold 30s\n"
	if _, err := rig.StartCamera(ctx, filepath.Join(root, "testdata", "faces", "grace_hopper_512x512.jpg"), script); err != nil {
		t.Fatal(err)
	}
	if _, err := rig.StartZFM(ctx, "-no-pace"); err != nil {
		t.Fatal(err)
	}
	if _, err := rig.WriteConfig(simrig.Config{Keys: keys, Face: true, Fingers: []int{7, 8}, ExceptionPhoto: true, Card: "personalize",
		CSCA: filepath.Join(sample, "csca.crt"), DSCert: filepath.Join(sample, "ds.crt"), DSKey: copyKey(t, filepath.Join(sample, "ds.key"))}); err != nil {
		t.Fatal(err)
	}
	if _, err := rig.StartStationd(ctx, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"camera", "finger-scanner", "card-reader"} {
		waitReady(t, rig, d)
	}
	c := connect(t, rig)
	var s summary
	c.call("session.start", map[string]any{"applicant": "APP-FACE-1", "operator": "officer-3"}, &s)
	// Personalizing needs the portrait first.
	if err := c.try("session.card.personalize", map[string]any{"session": s.ID}, nil); err == nil {
		t.Fatal("personalization before the portrait accepted")
	}
	start := time.Now()
	var fr struct {
		Score   int  `json:"score"`
		Pass    bool `json:"pass"`
		Bytes   int  `json:"bytes"`
		Frames  int  `json:"frames"`
		Refused int  `json:"refused"`
		Width   int  `json:"width"`
	}
	c.call("session.face.capture", map[string]any{"session": s.ID}, &fr)
	if !fr.Pass || fr.Bytes == 0 || fr.Width != 480 {
		t.Fatalf("portrait: %+v", fr)
	}
	t.Logf("portrait auto-captured after %d frames (%v, %d refused by the re-check): score %d, %d bytes", fr.Frames, time.Since(start).Round(time.Millisecond), fr.Refused, fr.Score, fr.Bytes)

	// An exception needs a photo of the hand under this policy.
	if err := c.try("session.finger.except", map[string]any{"session": s.ID, "position": 8, "kind": "amputated", "reason": "since birth"}, nil); err == nil {
		t.Fatal("exception without the required photo accepted")
	}
	c.call("session.finger.except", map[string]any{"session": s.ID, "position": 8, "kind": "amputated", "reason": "since birth", "photo": "camera"}, nil)

	rig.ZFM("place synth:21:7")
	c.call("session.finger.capture", map[string]any{"session": s.ID, "position": 7}, nil)
	rig.ZFM("lift")

	var pr struct {
		OK       bool   `json:"ok"`
		Document string `json:"document"`
		Passive  string `json:"passive"`
		Active   string `json:"active"`
	}
	c.call("session.card.personalize", map[string]any{"session": s.ID, "can": "654321",
		"mrz": map[string]any{"document_number": "C03005988", "birth_date": "950212", "expiry_date": "350212",
			"sex": "M", "nationality": "VNM", "issuing_state": "VNM", "primary_name": "TRAN", "secondary_name": "VAN AN", "optional1": "001095012345"}}, &pr)
	if !pr.OK || pr.Passive != "passed" || pr.Active != "passed" {
		t.Fatalf("personalization: %+v", pr)
	}
	c.call("session.review", map[string]any{"session": s.ID}, &s)
	var fin struct {
		Saved bool `json:"saved"`
	}
	c.call("session.finalize", map[string]any{"session": s.ID}, &fin)
	if !fin.Saved {
		t.Fatal("not saved")
	}
}
