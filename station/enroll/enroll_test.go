package enroll

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/station/outbox"
	"github.com/openenroll/stationd/station/session"
)

// A full outbox refuses a new enrollment before capture starts, with a
// code the UI can show, and accepts again once there is room.
func TestStartRefusedWhenOutboxFull(t *testing.T) {
	dir := t.TempDir()
	ob, err := outbox.Open(filepath.Join(dir, "outbox.db"), outbox.Options{QuotaBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	sm, err := session.Open(session.Options{Dir: filepath.Join(dir, "sessions")})
	if err != nil {
		t.Fatal(err)
	}
	reg := devices.NewRegistry(devices.Options{})
	defer reg.Close()
	c := New(Options{Registry: reg, Sessions: sm, Outbox: ob, StationID: "b1", Policy: session.DefaultPolicy(), MinPacketRoom: 150 << 10})
	defer c.Close()
	start := func(app string) error {
		_, err := c.Commands()["session.start"](context.Background(), json.RawMessage(`{"applicant":"`+app+`","operator":"o1"}`))
		return err
	}
	if err := start("APP-1"); err != nil {
		t.Fatalf("start with an empty outbox: %v", err)
	}
	// Fill the outbox to within less than one packet of its quota.
	var ids []string
	for {
		p := make([]byte, 200<<10)
		rand.Read(p)
		sum := sha256.Sum256(p)
		id := hex.EncodeToString(sum[:])
		if err := ob.Put(context.Background(), id, p); err != nil {
			if !errors.Is(err, outbox.ErrOutboxFull) {
				t.Fatal(err)
			}
			break
		}
		ids = append(ids, id)
	}
	err = start("APP-2")
	var ce *Error
	if !errors.As(err, &ce) || ce.Code() != "outbox_full" {
		t.Fatalf("start with a full outbox: %v", err)
	}
	// Central acknowledges one packet: its copy may go, and there is room again.
	if err := ob.Acknowledge(ids[0], []byte(`{"packet_id":"x"}`)); err != nil {
		t.Fatal(err)
	}
	if err := start("APP-3"); err != nil {
		t.Fatalf("start after room was made: %v", err)
	}
}
