package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openenroll/stationd/cmd/internal/simrig"
	"github.com/openenroll/stationd/station/outbox"
	"github.com/openenroll/stationd/station/uplink"
)

// tryEnroll runs (or resumes) a session to "saved", returning the first
// error: stationd may be killed under it at any moment.
func tryEnroll(rig *simrig.Rig, c *client, sid string, identity int) (string, error) {
	for {
		var s summary
		if err := c.try("session.get", map[string]any{"session": sid}, &s); err != nil {
			return "", err
		}
		if s.State == "review" {
			break
		}
		if s.NextFinger == 0 {
			if err := c.try("session.review", map[string]any{"session": sid}, &s); err != nil {
				return "", err
			}
			break
		}
		pos := s.NextFinger
		if _, err := rig.ZFM(fmt.Sprintf("place synth:%d:%d", identity, pos)); err != nil {
			return "", err
		}
		var fr fingerResult
		err := c.try("session.finger.capture", map[string]any{"session": sid, "position": pos}, &fr)
		rig.ZFM("lift")
		if err != nil {
			return "", err
		}
		c.lifted(5 * time.Second) // a kill may come first: then the next try fails anyway
	}
	var fin struct {
		PacketID string `json:"packet_id"`
		Saved    bool   `json:"saved"`
	}
	if err := c.try("session.finalize", map[string]any{"session": sid}, &fin); err != nil {
		return "", err
	}
	if !fin.Saved {
		return "", fmt.Errorf("finalize did not save")
	}
	return fin.PacketID, nil
}

// TestCrashLoopLosesNothing kills stationd with SIGKILL at random moments of
// capture, finalizing and uploading, many times. Every enrollment the
// officer was told was saved must reach central exactly once and intact;
// no enrollment may reach it twice.
func TestCrashLoopLosesNothing(t *testing.T) {
	rig, _ := startRig(t, true)
	// Two fingers and no portrait keep one enrollment short, so that kills
	// land in every phase many times.
	keys, _ := rig.MakeKeys()
	if _, err := rig.WriteConfig(simrig.Config{Keys: keys, Uplink: true, Fingers: []int{2, 7}}); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	iterations := 12
	if testing.Short() {
		iterations = 3
	}
	saved := map[string]string{} // packet id -> applicant
	var kills atomic.Int32
	identity := 100
	for it := range iterations {
		st, err := rig.StartStationd(context.Background(), "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		waitReady(t, rig, "finger-scanner")
		c := connect(t, rig)
		// Kill at a random moment of this run (or, one time in four, let
		// the run finish and kill during the upload that follows).
		killAfter := time.Duration(rng.IntN(2500)) * time.Millisecond
		killed := make(chan struct{})
		go func() {
			defer close(killed)
			time.Sleep(killAfter)
			st.Kill()
			kills.Add(1)
		}()
		// Resume whatever was left open by the previous kill, then start new ones.
		var list struct {
			Sessions []summary `json:"sessions"`
		}
		if err := c.try("session.list", nil, &list); err == nil {
			for _, s := range list.Sessions {
				if s.State == "finalizing" {
					continue // Recover finished it at start-up
				}
				identity++
				if pid, err := tryEnroll(rig, c, s.ID, identity); err == nil {
					saved[pid] = s.ID
				}
			}
		}
		for n := 0; ; n++ {
			var s summary
			app := fmt.Sprintf("APP-CRASH-%d-%d", it, n)
			if err := c.try("session.start", map[string]any{"applicant": app, "operator": "officer-9"}, &s); err != nil {
				break
			}
			identity++
			pid, err := tryEnroll(rig, c, s.ID, identity)
			if err != nil {
				break
			}
			saved[pid] = app
		}
		<-killed
		c.ws.Close()
	}
	t.Logf("%d kills, %d enrollments reported saved", kills.Load(), len(saved))
	if len(saved) == 0 {
		t.Fatal("no enrollment was saved in any run: the test exercised nothing")
	}

	// A last, undisturbed run lets the uplink deliver everything queued.
	st, err := rig.StartStationd(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	store, err := uplink.OpenStore(filepath.Join(rig.Dir, "central-store"))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		missing := 0
		for pid := range saved {
			if h, err := store.Held(pid); err != nil || h == nil {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d saved packets never reached central", missing)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Wait for the outbox to drain: every queued packet (including those
	// finalized just before a kill, whose "saved" the test never saw).
	for {
		if err := st.Stop(5 * time.Second); err != nil {
			t.Fatal(err)
		}
		ob, err := outbox.Open(filepath.Join(rig.Dir, "station-data", "outbox.db"), outbox.Options{})
		if err != nil {
			t.Fatal(err)
		}
		status, err := ob.Status()
		ob.Close()
		if err != nil {
			t.Fatal(err)
		}
		if status.Depth == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox still holds %d packets", status.Depth)
		}
		if st, err = rig.StartStationd(context.Background(), "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
	}
	// Central: every packet opened (signature, decryption and records
	// verified by its opener), and no session delivered twice.
	held, err := store.List()
	if err != nil {
		t.Fatal(err)
	}
	sessions := map[string]string{}
	for _, h := range held {
		mb, err := os.ReadFile(filepath.Join(rig.Dir, "central-store", "opened", h.ID, "manifest.json"))
		if err != nil {
			t.Fatalf("packet %s held but not opened: %v", h.ID, err)
		}
		var m struct {
			SessionID string `json:"session_id"`
		}
		if err := json.Unmarshal(mb, &m); err != nil || m.SessionID == "" {
			t.Fatalf("packet %s manifest: %v", h.ID, err)
		}
		if other, dup := sessions[m.SessionID]; dup {
			t.Fatalf("session %s delivered twice: packets %s and %s", m.SessionID, other, h.ID)
		}
		sessions[m.SessionID] = h.ID
	}
	if dup := store.DuplicateBytes(); dup != 0 {
		t.Logf("central received %d bytes it already held (resumed uploads re-sent after a kill before the ack was stored)", dup)
	}
	t.Logf("central holds %d packets from %d distinct sessions; all %d saved ones among them", len(held), len(sessions), len(saved))
}
