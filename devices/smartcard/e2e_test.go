package smartcard_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/openenroll/stationd/devices/smartcard"
	"github.com/openenroll/stationd/devices/smartcard/apdu"
	"github.com/openenroll/stationd/devices/smartcard/emrtd"
	"github.com/openenroll/stationd/devices/smartcard/icao"
	"github.com/openenroll/stationd/devices/smartcard/lds"
	"github.com/openenroll/stationd/devices/smartcard/lds/ldstest"
	"github.com/openenroll/stationd/firmware-sim/card"
)

const sampleCAN = "123456"

// personalizedCard returns a locked card holding the sample enrollment,
// with PACE offered on the given curve (0: BAC only) and an AA key.
func personalizedCard(tb testing.TB, paceParam int) (*card.Card, lds.Enrollment) {
	tb.Helper()
	e := ldstest.SampleEnrollment()
	aa, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	e.AAPublicKey = &aa.PublicKey
	e.PACEParam = paceParam
	files, err := lds.BuildFiles(e, ldstest.TestPKI().DS)
	if err != nil {
		tb.Fatal(err)
	}
	k := e.MRZ.Key()
	return card.NewPersonalized(card.Profile{Files: files, DocumentNumber: k.DocumentNumber, BirthDate: k.BirthDate,
		ExpiryDate: k.ExpiryDate, CAN: sampleCAN, AAKey: aa, Locked: true}), e
}

func cscas() []*x509.Certificate { return []*x509.Certificate{ldstest.TestPKI().CSCA} }

func ctxT(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

func checkSample(t *testing.T, d *emrtd.Document, e lds.Enrollment) {
	t.Helper()
	if d.MRZ != e.MRZ {
		t.Errorf("MRZ %+v, want %+v", d.MRZ, e.MRZ)
	}
	if len(d.Faces) != 1 || !bytes.Equal(d.Faces[0].Image, e.Face.Image) {
		t.Errorf("portrait differs")
	}
	if d.CCCD == nil || !reflect.DeepEqual(*d.CCCD, *e.CCCD) {
		t.Errorf("DG13 %+v", d.CCCD)
	}
	if d.PAErr != nil {
		t.Errorf("passive authentication: %v", d.PAErr)
	}
	if d.AA != "passed" {
		t.Errorf("active authentication: %q %v", d.AA, d.AAErr)
	}
	if !d.Verified() {
		t.Error("document not verified")
	}
}

func TestReadBAC(t *testing.T) {
	c, e := personalizedCard(t, 0)
	sc := insert(t, c)
	k := e.MRZ.Key()
	d, err := emrtd.Read(ctxT(t), sc, emrtd.ReadOptions{Key: emrtd.AccessKey{MRZ: &k}, CSCAs: cscas()})
	if err != nil {
		t.Fatal(err)
	}
	if d.Access != "BAC" {
		t.Fatalf("access %q", d.Access)
	}
	checkSample(t, d, e)
}

func TestReadPACE(t *testing.T) {
	for _, tc := range []struct {
		name  string
		param int
		can   bool
		want  string
	}{
		{"P256-CAN", lds.ParamP256, true, "PACE P-256"},
		{"brainpool-MRZ", lds.ParamBrainpoolP256r1, false, "PACE brainpoolP256r1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, e := personalizedCard(t, tc.param)
			sc := insert(t, c)
			key := emrtd.AccessKey{CAN: sampleCAN}
			if !tc.can {
				k := e.MRZ.Key()
				key = emrtd.AccessKey{MRZ: &k}
			}
			d, err := emrtd.Read(ctxT(t), sc, emrtd.ReadOptions{Key: key, CSCAs: cscas()})
			if err != nil {
				t.Fatal(err)
			}
			if d.Access != tc.want {
				t.Fatalf("access %q, want %q", d.Access, tc.want)
			}
			checkSample(t, d, e)
		})
	}
}

func TestWrongAccessKey(t *testing.T) {
	c, e := personalizedCard(t, lds.ParamP256)
	sc := insert(t, c)
	k := e.MRZ.Key()
	k.BirthDate = "900116"
	_, err := emrtd.Read(ctxT(t), sc, emrtd.ReadOptions{Key: emrtd.AccessKey{MRZ: &k}, ForceBAC: true})
	if !errors.Is(err, icao.ErrAccessDenied) {
		t.Fatalf("BAC with wrong birth date: %v", err)
	}
	_, err = emrtd.Read(ctxT(t), sc, emrtd.ReadOptions{Key: emrtd.AccessKey{CAN: "654321"}})
	if !errors.Is(err, icao.ErrAccessDenied) {
		t.Fatalf("PACE with wrong CAN: %v", err)
	}
}

func TestTamperedDGFailsPassiveAuth(t *testing.T) {
	c, e := personalizedCard(t, 0)
	dg13, _ := c.File(lds.FIDForDG(13))
	i := bytes.Index(dg13, []byte("Kinh"))
	copy(dg13[i:], "Khmr") // same length: still a well-formed DG13
	c.SetFile(lds.FIDForDG(13), dg13)
	sc := insert(t, c)
	k := e.MRZ.Key()
	d, err := emrtd.Read(ctxT(t), sc, emrtd.ReadOptions{Key: emrtd.AccessKey{MRZ: &k}, CSCAs: cscas()})
	if err != nil {
		t.Fatal(err)
	}
	if d.CCCD.Ethnicity != "Khmr" {
		t.Fatalf("tampered DG13 not read: %q", d.CCCD.Ethnicity)
	}
	if !errors.Is(d.PAErr, lds.ErrPassiveAuth) || !strings.Contains(d.PAErr.Error(), "DG13") || d.Verified() {
		t.Fatalf("tampered DG13 passed: %v", d.PAErr)
	}
}

func TestPersonalizeBlankAndReadBack(t *testing.T) {
	c := card.New()
	sc := insert(t, c)
	e := ldstest.SampleEnrollment()
	aa, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	e.AAPublicKey = &aa.PublicKey
	e.PACEParam = lds.ParamBrainpoolP256r1
	files, err := lds.BuildFiles(e, ldstest.TestPKI().DS)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	st, err := emrtd.Personalize(ctx, sc, files, emrtd.PersoKeys{MRZ: e.MRZ.Key(), CAN: sampleCAN, AAKey: aa}, emrtd.PersoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Locked() {
		t.Fatal("card not locked after personalization")
	}
	if st.Bytes < 15000 {
		t.Fatalf("wrote only %d bytes", st.Bytes)
	}
	// Locked: personalization commands are refused now.
	if _, err := emrtd.Personalize(ctx, sc, files, emrtd.PersoKeys{MRZ: e.MRZ.Key()}, emrtd.PersoOptions{}); err == nil {
		t.Fatal("locked card accepted personalization again")
	}
	d, err := emrtd.Read(ctx, sc, emrtd.ReadOptions{Key: emrtd.AccessKey{CAN: sampleCAN}, CSCAs: cscas()})
	if err != nil {
		t.Fatal(err)
	}
	if d.Access != "PACE brainpoolP256r1" {
		t.Fatalf("access %q", d.Access)
	}
	checkSample(t, d, e)
}

func TestCardRemovedMidRead(t *testing.T) {
	c, e := personalizedCard(t, 0)
	sc := insert(t, c)
	// Pull the card while DG2 is being read (about 30 APDUs in).
	c.SetFaults(card.Faults{PullAfter: 30})
	k := e.MRZ.Key()
	_, err := emrtd.Read(ctxT(t), sc, emrtd.ReadOptions{Key: emrtd.AccessKey{MRZ: &k}, CSCAs: cscas()})
	if !errors.Is(err, smartcard.ErrCardRemoved) {
		t.Fatalf("card pulled mid-read: %v", err)
	}
	if !strings.Contains(err.Error(), "place it back") {
		t.Fatalf("error does not tell the operator what to do: %v", err)
	}
}

func TestCorruptedResponseMAC(t *testing.T) {
	c, e := personalizedCard(t, 0)
	sc := insert(t, c)
	c.SetFaults(card.Faults{BadMACAfter: 4})
	k := e.MRZ.Key()
	_, err := emrtd.Read(ctxT(t), sc, emrtd.ReadOptions{Key: emrtd.AccessKey{MRZ: &k}})
	if !errors.Is(err, icao.ErrSMResponse) {
		t.Fatalf("bad MAC: %v", err)
	}
}

// A slow card does not hold the station beyond the caller's deadline: the
// read stops with the context's error at the next APDU boundary.
func TestSlowCardHonoursDeadline(t *testing.T) {
	c, e := personalizedCard(t, 0)
	sc := insert(t, c)
	c.SetFaults(card.Faults{Delay: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	k := e.MRZ.Key()
	_, err := emrtd.Read(ctx, sc, emrtd.ReadOptions{Key: emrtd.AccessKey{MRZ: &k}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow card: %v", err)
	}
	c.SetFaults(card.Faults{})
}

// A card whose EF.CardAccess offers PACE but which refuses it is read with
// BAC when the MRZ is known; with only the CAN the refusal is reported.
func TestPACERefusedFallsBackToBAC(t *testing.T) {
	c, e := personalizedCard(t, lds.ParamP256)
	c.SetFaults(card.Faults{RejectPACE: true})
	sc := insert(t, c)
	k := e.MRZ.Key()
	d, err := emrtd.Read(ctxT(t), sc, emrtd.ReadOptions{Key: emrtd.AccessKey{MRZ: &k}, CSCAs: cscas()})
	if err != nil {
		t.Fatal(err)
	}
	if d.Access != "BAC" || !d.Verified() {
		t.Fatalf("access %q, verified %v", d.Access, d.Verified())
	}
	if _, err := emrtd.Read(ctxT(t), sc, emrtd.ReadOptions{Key: emrtd.AccessKey{CAN: sampleCAN}}); !errors.Is(err, apdu.ErrWrongData) {
		t.Fatalf("CAN-only read of a card refusing PACE: %v", err)
	}
}
