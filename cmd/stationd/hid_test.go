package main

import (
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openenroll/stationd/cmd/internal/simrig"
	"github.com/openenroll/stationd/station/packet/ansinist"
)

// The booth's HID devices in a session: a foot-pedal press captures the
// next finger on the serial scanner, a right-hand slap on the slap scanner
// records the fingers it segments, a slap of the wrong hand records
// nothing, and the status light follows.
func TestEndToEndPedalSlapAndLight(t *testing.T) {
	rig, keys := newRig(t)
	ctx := context.Background()
	if _, err := rig.StartCentral(ctx, keys); err != nil {
		t.Fatal(err)
	}
	hid, err := rig.StartHID(ctx, "-identity", "51", "-rotation", "15")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rig.StartZFM(ctx, "-no-pace"); err != nil {
		t.Fatal(err)
	}
	if _, err := rig.WriteConfig(simrig.Config{Keys: keys, Uplink: true, Fingers: []int{2, 3, 4, 5}}); err != nil {
		t.Fatal(err)
	}
	if _, err := rig.StartStationd(ctx, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"finger-scanner", "slap-scanner", "pedal", "status-light"} {
		waitReady(t, rig, d)
	}
	c := connect(t, rig)
	var s summary
	c.call("session.start", map[string]any{"applicant": "APP-HID-1", "operator": "officer-4"}, &s)

	// Pedal: the officer's hands hold the applicant's finger on the glass.
	rig.ZFM("place synth:51:2")
	if err := hid.Send("tap"); err != nil {
		t.Fatal(err)
	}
	e := c.waitEvent("capture.finger.result", 60*time.Second)
	var fr struct {
		Position int  `json:"position"`
		Accepted bool `json:"accepted"`
	}
	json.Unmarshal(e.Payload, &fr)
	if fr.Position != 2 || !fr.Accepted {
		t.Fatalf("pedal capture: %s", e.Payload)
	}
	rig.ZFM("lift")

	var sr struct {
		WrongHand bool `json:"wrong_hand"`
		Recorded  bool `json:"recorded"`
		Fingers   []struct {
			Position int `json:"position"`
			Score    int `json:"score"`
		} `json:"fingers"`
		Missing []int `json:"missing"`
	}
	c.call("session.slap.capture", map[string]any{"session": s.ID, "slap": "right"}, &sr)
	if sr.WrongHand || !sr.Recorded || len(sr.Fingers) != 4 || len(sr.Missing) != 0 {
		t.Fatalf("right slap: %+v", sr)
	}
	for i, f := range sr.Fingers {
		if f.Position != 2+i || f.Score <= 0 {
			t.Fatalf("right slap finger %d: %+v", i, f)
		}
	}
	if light := lightPattern(t, hid); light != 3 && light != 4 { // done, or try again when a score is below the threshold
		t.Fatalf("status light pattern %d after a slap", light)
	}

	// The left hand placed for the right slap: flagged, nothing recorded.
	hid.Send("wronghand on")
	var before summary
	c.call("session.get", map[string]any{"session": s.ID}, &before)
	c.call("session.slap.capture", map[string]any{"session": s.ID, "slap": "right"}, &sr)
	if !sr.WrongHand || sr.Recorded {
		t.Fatalf("wrong hand not flagged: %+v", sr)
	}
	if light := lightPattern(t, hid); light != 4 {
		t.Fatalf("status light pattern %d after a wrong hand, want 4 (try again)", light)
	}

	// The session keeps the right slap whole, with each finger's box; the
	// wrong hand's slap did not replace it.
	var imgs struct {
		Images []struct {
			Kind     string `json:"kind"`
			Position int    `json:"position"`
			URL      string `json:"url"`
			Width    int    `json:"width"`
			Segments []struct {
				Position, X, Y, W, H int
			} `json:"segments"`
		} `json:"images"`
	}
	c.call("session.images", map[string]any{"session": s.ID}, &imgs)
	slapURL := ""
	for _, im := range imgs.Images {
		if im.Kind != "slap" {
			continue
		}
		if im.Position != 13 || len(im.Segments) != 4 || slapURL != "" {
			t.Fatalf("slap image %+v", im)
		}
		for i, g := range im.Segments {
			if g.Position != 2+i || g.W < 50 || g.H < 50 || g.X+g.W > im.Width {
				t.Errorf("segment %d: %+v", i, g)
			}
		}
		slapURL = im.URL
	}
	if slapURL == "" {
		t.Fatalf("no slap among the session's images: %+v", imgs.Images)
	}
	req, _ := http.NewRequest("GET", "http://"+rig.StationAddr+slapURL, nil)
	req.Header.Set("Authorization", "Bearer "+rig.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || cfg.Width < 1000 {
		t.Fatalf("slap image from %s: %s, %+v, %v", slapURL, resp.Status, cfg, err)
	}

	// Finish the session (a finger still below its threshold is excused)
	// and find the slap at the central, as a Type-14 with the fingers'
	// segments.
	c.call("session.get", map[string]any{"session": s.ID}, &s)
	for s.NextFinger != 0 {
		c.call("session.finger.except", map[string]any{"session": s.ID, "position": s.NextFinger, "kind": "unable", "reason": "worn ridges"}, nil)
		c.call("session.get", map[string]any{"session": s.ID}, &s)
	}
	c.call("session.review", map[string]any{"session": s.ID}, &s)
	var fin struct {
		PacketID string `json:"packet_id"`
		Saved    bool   `json:"saved"`
	}
	c.call("session.finalize", map[string]any{"session": s.ID}, &fin)
	if !fin.Saved {
		t.Fatalf("finalize: %+v", fin)
	}
	an2 := filepath.Join(rig.Dir, "central-store", "opened", fin.PacketID, "transaction.an2")
	var raw []byte
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if raw, err = os.ReadFile(an2); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("central has not opened packet %s after 60 s", fin.PacketID)
		}
	}
	tx, err := ansinist.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	var slaps []ansinist.Type14
	for _, r := range tx.Type14 {
		if r.FGP[0] >= 13 {
			slaps = append(slaps, r)
		}
	}
	if len(slaps) != 1 || slaps[0].FGP[0] != 13 || len(slaps[0].SEG) != 4 || len(slaps[0].FQM) != 4 || len(slaps[0].ASEG) != 4 {
		t.Fatalf("slap records at central: %+v", slaps)
	}
	for i, g := range slaps[0].SEG {
		if g.FGP != 2+i || g.Right-g.Left < 50 || g.Bottom >= slaps[0].VLL {
			t.Errorf("SEG %d: %+v", i, g)
		}
		// The outline is the turned rectangle the finger was cut from: four
		// corners, each near the box (the hand is turned 15°).
		o := slaps[0].ASEG[i]
		if o.FGP != g.FGP || len(o.Points) != 4 {
			t.Fatalf("ASEG %d: %+v", i, o)
		}
		for _, p := range o.Points {
			if p.X < g.Left-80 || p.X > g.Right+80 || p.Y < g.Top-80 || p.Y > g.Bottom+80 {
				t.Errorf("ASEG %d corner %v far from the box %+v", i, p, g)
			}
		}
	}
}

// lightPattern asks the simulated light what it shows, waiting briefly for
// the station's command (sent in the background) to arrive.
func lightPattern(t *testing.T, hid *simrig.Proc) int {
	t.Helper()
	last := -1
	for range 50 {
		hid.Send("light")
		time.Sleep(40 * time.Millisecond)
		lines := hid.Lines()
		for i := len(lines) - 1; i >= 0; i-- {
			if strings.HasPrefix(lines[i], "light: pattern ") {
				var p int
				if _, err := fmtSscanf(lines[i], &p); err == nil {
					last = p
				}
				break
			}
		}
		if last == 3 || last == 4 {
			return last
		}
	}
	return last
}

func fmtSscanf(line string, p *int) (int, error) {
	return fmt.Sscanf(line, "light: pattern %d", p)
}
