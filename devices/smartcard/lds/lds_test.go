package lds_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/openenroll/stationd/devices/smartcard/lds"
	"github.com/openenroll/stationd/devices/smartcard/lds/ldstest"
)

// ICAO 9303 part 5 specimen TD1 MRZ.
const specimenTD1 = "I<UTOD231458907<<<<<<<<<<<<<<<" + "7408122F1204159UTO<<<<<<<<<<<6" + "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"

// ICAO 9303 part 4 specimen TD3 MRZ.
const specimenTD3 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<" + "L898902C36UTO7408122F1204159ZE184226B<<<<<10"

func TestParseMRZSpecimens(t *testing.T) {
	m, err := lds.ParseMRZ(specimenTD1)
	if err != nil {
		t.Fatal(err)
	}
	if m.DocumentNumber != "D23145890" || m.BirthDate != "740812" || m.ExpiryDate != "120415" || m.PrimaryName != "ERIKSSON" || m.SecondaryName != "ANNA MARIA" || m.Sex != "F" {
		t.Fatalf("TD1 parsed %+v", m)
	}
	if m.String() != specimenTD1 {
		t.Fatalf("TD1 re-encoded\n%s\n%s", m.String(), specimenTD1)
	}
	m3, err := lds.ParseMRZ(specimenTD3)
	if err != nil {
		t.Fatal(err)
	}
	if m3.DocumentNumber != "L898902C3" || m3.Optional1 != "ZE184226B" || m3.String() != specimenTD3 {
		t.Fatalf("TD3 parsed %+v / %s", m3, m3.String())
	}
	bad := []byte(specimenTD1)
	bad[31] = '9' // birth date digit: check digit no longer matches
	if _, err := lds.ParseMRZ(string(bad)); err == nil || !strings.Contains(err.Error(), "birth date") {
		t.Fatalf("corrupted birth date: %v", err)
	}
}

func TestRoundTripFiles(t *testing.T) {
	e := ldstest.SampleEnrollment()
	aa, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	e.AAPublicKey = &aa.PublicKey
	e.PACEParam = lds.ParamBrainpoolP256r1
	pki := ldstest.TestPKI()
	files, err := lds.BuildFiles(e, pki.DS)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(files[lds.FIDForDG(2)]); n < 14000 || n > 17000 {
		t.Fatalf("DG2 of %d bytes, want about 15 KB", n)
	}
	com, err := lds.ParseCOM(files[lds.FIDCOM])
	if err != nil || !reflect.DeepEqual(com.DataGroups, []int{1, 2, 13, 14, 15}) {
		t.Fatalf("COM %+v %v", com, err)
	}
	m, err := lds.ParseDG1(files[lds.FIDForDG(1)])
	if err != nil || m != e.MRZ {
		t.Fatalf("DG1 %+v %v", m, err)
	}
	faces, err := lds.ParseDG2(files[lds.FIDForDG(2)])
	if err != nil || len(faces) != 1 || !bytes.Equal(faces[0].Image, e.Face.Image) || faces[0].Width != e.Face.Width {
		t.Fatalf("DG2 %v", err)
	}
	c, err := lds.ParseDG13(files[lds.FIDForDG(13)])
	if err != nil || !reflect.DeepEqual(c, *e.CCCD) {
		t.Fatalf("DG13 %+v %v", c, err)
	}
	pub, err := lds.ParseDG15(files[lds.FIDForDG(15)])
	if err != nil || !aa.PublicKey.Equal(pub) {
		t.Fatalf("DG15 %v", err)
	}
	infos, err := lds.ParseDG14(files[lds.FIDForDG(14)])
	if err != nil || len(infos) != 1 || !infos[0].Algorithm.Equal(lds.OIDECDSAPlainSHA256) {
		t.Fatalf("DG14 %+v %v", infos, err)
	}
	offers, err := lds.ParseCardAccess(files[lds.FIDCardAccess])
	if err != nil || len(offers) != 1 || offers[0].Param != lds.ParamBrainpoolP256r1 {
		t.Fatalf("CardAccess %+v %v", offers, err)
	}

	dgs := map[int][]byte{}
	for _, n := range []int{1, 2, 13, 14, 15} {
		dgs[n] = files[lds.FIDForDG(n)]
	}
	res, err := lds.PassiveAuth(files[lds.FIDSOD], dgs, []*x509Cert{pki.CSCA}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.CheckedDGs) != 5 || res.CSCA != pki.CSCA {
		t.Fatalf("PA result %+v", res)
	}
	// A tampered DG1 must fail.
	tampered := bytes.Clone(dgs[1])
	tampered[len(tampered)-5] ^= 1
	dgs[1] = tampered
	if _, err := lds.PassiveAuth(files[lds.FIDSOD], dgs, []*x509Cert{pki.CSCA}, time.Now()); !errors.Is(err, lds.ErrPassiveAuth) || !strings.Contains(err.Error(), "DG1") {
		t.Fatalf("tampered DG1: %v", err)
	}
	dgs[1] = files[lds.FIDForDG(1)]
	// Another CSCA must not be trusted.
	other := ldstest.NewPKI("Other CSCA")
	if _, err := lds.PassiveAuth(files[lds.FIDSOD], dgs, []*x509Cert{other.CSCA}, time.Now()); !errors.Is(err, lds.ErrPassiveAuth) {
		t.Fatalf("foreign CSCA: %v", err)
	}
	// A changed byte in the signed LDSSecurityObject must fail the signature.
	sod := bytes.Clone(files[lds.FIDSOD])
	h := sha256Of(files[lds.FIDForDG(1)])
	j := bytes.Index(sod, h)
	if j < 0 {
		t.Fatal("DG1 hash not found in SOD")
	}
	sod[j] ^= 0xFF
	if _, err := lds.PassiveAuth(sod, dgs, []*x509Cert{pki.CSCA}, time.Now()); !errors.Is(err, lds.ErrPassiveAuth) {
		t.Fatalf("altered SOD: %v", err)
	}
	// Expired document signer.
	if _, err := lds.PassiveAuth(files[lds.FIDSOD], dgs, []*x509Cert{pki.CSCA}, time.Now().AddDate(5, 0, 0)); !errors.Is(err, lds.ErrPassiveAuth) {
		t.Fatalf("expired DS: %v", err)
	}
}

func TestTLVErrorsSayWhere(t *testing.T) {
	_, _, err := lds.ParseTLV([]byte{0x61, 0x82, 0x01, 0x00, 1, 2}, 0)
	if err == nil || !strings.Contains(err.Error(), "claims 256 bytes") {
		t.Fatalf("got %v", err)
	}
	if _, err := lds.ParseDG1([]byte{0x75, 0}); !errors.Is(err, lds.ErrWrongTag) {
		t.Fatalf("got %v", err)
	}
}
