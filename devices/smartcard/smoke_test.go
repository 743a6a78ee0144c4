package smartcard_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/openenroll/stationd/devices/smartcard"
	"github.com/openenroll/stationd/devices/smartcard/icao"
	"github.com/openenroll/stationd/firmware-sim/card"
	"github.com/openenroll/stationd/internal/pcscdtest"
)

func TestSmokeBAC(t *testing.T) {
	pcscdtest.ForTest(t)
	com := []byte{0x60, 0x05, 0x5F, 0x01, 0x02, 0x30, 0x31}
	c := card.NewPersonalized(card.Profile{Files: map[uint16][]byte{0x011E: com},
		DocumentNumber: "L898902C<", BirthDate: "690806", ExpiryDate: "940623", Locked: true})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Insert(ctx, pcscdtest.VPCDAddr); err != nil {
		t.Fatal(err)
	}
	defer c.Remove()
	rs, err := smartcard.ListReaders()
	if err != nil {
		t.Fatal(err)
	}
	name, ok := smartcard.MatchReader(rs, "Virtual PCD")
	if !ok {
		t.Fatalf("no vpcd reader in %q", rs)
	}
	sc, err := smartcard.Connect(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	s := icao.NewSession(sc)
	if err := s.SelectApplication(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.BAC(ctx, icao.MRZKey{DocumentNumber: "L898902C<", BirthDate: "690806", ExpiryDate: "940623"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ReadFile(ctx, icao.FIDCOM)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, com) {
		t.Fatalf("read %X", got)
	}
}
