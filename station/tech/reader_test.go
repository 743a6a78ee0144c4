package tech

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/devices/smartcard"
	"github.com/openenroll/stationd/firmware-sim/card"
	"github.com/openenroll/stationd/internal/pcscdtest"
)

func TestParseATR(t *testing.T) {
	for _, tc := range []struct {
		atr    []byte
		protos []int
		hist   int
		ok     bool
	}{
		{[]byte{0x3B, 0x80, 0x80, 0x01, 0x01}, []int{0, 1}, 0, true},                              // the simulated card: T=0 then T=1, TCK
		{[]byte{0x3B, 0x02, 0x14, 0x50}, []int{0}, 2, true},                                       // T=0 only, no TCK
		{[]byte{0x3B, 0x88, 0x80, 0x01, 0, 0, 0, 0, 0x77, 0x81, 0x81, 0x00, 0x7F}, nil, 8, false}, // wrong TCK
		{[]byte{0x3B, 0x82, 0x01, 0x31}, nil, 0, false},                                           // TD1 says T=1 but no TCK and history short
		{[]byte{0x3A, 0x00}, nil, 0, false},                                                       // bad TS
		{[]byte{0x3B, 0xF0}, nil, 0, false},                                                       // interface bytes missing
		{[]byte{0x3B, 0x00, 0x01}, nil, 0, false},                                                 // extra byte
	} {
		info, err := ParseATR(tc.atr)
		if (err == nil) != tc.ok {
			t.Errorf("% X: err %v, want ok=%v", tc.atr, err, tc.ok)
			continue
		}
		if tc.ok && (len(info.Historical) != tc.hist || !equalInts(info.Protocols, tc.protos)) {
			t.Errorf("% X: %+v", tc.atr, info)
		}
	}
	// A typical contactless eID ATR (PC/SC part 3 form for ISO 14443-4
	// cards): 3B 88 80 01 + 8 historical bytes + TCK.
	atr := []byte{0x3B, 0x88, 0x80, 0x01, 0x00, 0x00, 0x00, 0x00, 0x77, 0x81, 0x81, 0x00}
	var x byte
	for _, c := range atr[1:] {
		x ^= c
	}
	atr = append(atr, x)
	if info, err := ParseATR(atr); err != nil || len(info.Historical) != 8 || !equalInts(info.Protocols, []int{0, 1}) {
		t.Errorf("contactless ATR: %+v %v", info, err)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func FuzzParseATR(f *testing.F) {
	f.Add([]byte{0x3B, 0x80, 0x80, 0x01, 0x01})
	f.Add([]byte{0x3B, 0x02, 0x14, 0x50})
	f.Add([]byte{0x3F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := ParseATR(b)
		if err == nil && (len(b) < 2 || len(info.Protocols) == 0 || !bytes.Contains(b, info.Historical)) {
			t.Fatalf("accepted % X as %+v", b, info)
		}
	})
}

func TestReaderSelftest(t *testing.T) {
	pcscdtest.ForTest(t)
	reg := devices.NewRegistry(devices.Options{RetryMin: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond})
	defer reg.Close()
	sub := reg.Subscribe(0)
	defer sub.Close()
	if err := reg.Open(devices.Config{ID: "card1", Driver: "pcsc", Options: &smartcard.Options{Reader: "virtual pcd"}}); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	wait := func(detail string) {
		t.Helper()
		for {
			ev, err := sub.Next(ctx)
			if err != nil {
				t.Fatalf("waiting for %q: %v", detail, err)
			}
			if ev.Device.ID == "card1" && ev.State == devices.StateReady && ev.Detail == detail {
				return
			}
		}
	}
	wait(smartcard.DetailNoCard)
	svc, err := New(Options{Registry: reg, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	// No card: a warning, not a failure; the card checks are skipped.
	rep, err := svc.Selftest(ctx, "card1")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Result != Warn || check(t, rep, "atr").Result != Skipped || check(t, rep, "apdu").Result != Skipped {
		t.Fatalf("no card: %+v", rep)
	}

	dev, _ := reg.Get("card1")
	name := dev.(*smartcard.Reader).Name()
	c := card.New()
	if err := c.Insert(ctx, pcscdtest.VPCDAddr); err != nil {
		t.Fatal(err)
	}
	defer func() {
		// Leave the reader empty. Tidiness only: pcscd is this test's own
		// and stops with it, and removal is tested in devices/smartcard;
		// a slow notice from pcscd under load is logged, not failed.
		c.Remove()
		wctx, cancel := context.WithTimeout(context.Background(), safety)
		defer cancel()
		if err := smartcard.WaitCard(wctx, name, false); err != nil {
			t.Logf("card pulled, but pcscd has not noticed yet: %v", err)
		}
	}()
	wait(smartcard.DetailCardPresent)
	rep, err = svc.Selftest(ctx, "card1")
	if err != nil {
		t.Fatal(err)
	}
	atr, apdu := check(t, rep, "atr"), check(t, rep, "apdu")
	if rep.Result != Pass || atr.Values["atr"] != "3B80800101" || apdu.Values["sw"] != "9000" {
		t.Fatalf("card present: %+v", rep)
	}
	// Card readers have nothing to calibrate.
	if _, err := svc.Calibrate(ctx, "card1"); err != nil {
		t.Fatal(err)
	}
	if st, _ := svc.Calibration("card1"); st != CalNotApplicable {
		t.Fatalf("reader calibration state %s", st)
	}
}
