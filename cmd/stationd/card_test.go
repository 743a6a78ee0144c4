package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openenroll/stationd/cmd/internal/simrig"
	"github.com/openenroll/stationd/internal/pcscdtest"
)

// An enrollment whose card step reads and verifies the applicant's chip
// card: the real pcscd, the vpcd reader driver and the simulated card.
func TestEndToEndCardRead(t *testing.T) {
	binaries(t)
	pcscdtest.ForTest(t) // starts pcscd (or waits for another test's to be free); stops it by pid
	rig, keys := newRig(t)
	ctx := context.Background()
	sample, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "card", "sample"))
	if _, err := rig.StartCard(ctx, sample); err != nil {
		t.Fatal(err)
	}
	if _, err := rig.StartZFM(ctx, "-no-pace"); err != nil {
		t.Fatal(err)
	}
	if _, err := rig.WriteConfig(simrig.Config{Keys: keys, Fingers: []int{2}, Card: "read", CSCA: filepath.Join(sample, "csca.crt")}); err != nil {
		t.Fatal(err)
	}
	if _, err := rig.StartStationd(ctx, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	waitReady(t, rig, "finger-scanner")
	waitReady(t, rig, "card-reader")
	c := connect(t, rig)
	var s summary
	c.call("session.start", map[string]any{"applicant": "APP-CARD-1", "operator": "officer-2"}, &s)
	rig.ZFM("place synth:3:2")
	c.call("session.finger.capture", map[string]any{"session": s.ID, "position": 2}, nil)
	rig.ZFM("lift")
	if err := c.try("session.review", map[string]any{"session": s.ID}, nil); err == nil || !strings.Contains(err.Error(), "chip card") {
		t.Fatalf("review before the card step: %v", err)
	}
	// A wrong CAN opens nothing.
	if err := c.try("session.card", map[string]any{"session": s.ID, "can": "999999"}, nil); err == nil {
		t.Fatal("card read with a wrong CAN succeeded")
	}
	var res struct {
		OK       bool   `json:"ok"`
		Access   string `json:"access"`
		Document string `json:"document"`
		Passive  string `json:"passive"`
	}
	c.call("session.card", map[string]any{"session": s.ID, "can": "123456"}, &res)
	if !res.OK || res.Document != "203012345" || res.Passive != "passed" || !strings.HasPrefix(res.Access, "PACE") {
		t.Fatalf("card read: %+v", res)
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
