package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/openenroll/stationd/cmd/internal/simrig"
)

// The booth's HID devices in a session: a foot-pedal press captures the
// next finger on the serial scanner, a right-hand slap on the slap scanner
// records the fingers it segments, a slap of the wrong hand records
// nothing, and the status light follows.
func TestEndToEndPedalSlapAndLight(t *testing.T) {
	rig, keys := newRig(t)
	ctx := context.Background()
	hid, err := rig.StartHID(ctx, "-identity", "51", "-rotation", "15")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rig.StartZFM(ctx, "-no-pace"); err != nil {
		t.Fatal(err)
	}
	if _, err := rig.WriteConfig(simrig.Config{Keys: keys, Fingers: []int{2, 3, 4, 5}}); err != nil {
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
