package lds_test

import (
	"testing"
	"time"

	"github.com/openenroll/stationd/devices/smartcard/lds"
	"github.com/openenroll/stationd/devices/smartcard/lds/ldstest"
)

func seedFiles(f *testing.F) {
	e := ldstest.SampleEnrollment()
	img, w, h := ldstest.Portrait(600)
	e.Face.Image, e.Face.Width, e.Face.Height = img, uint16(w), uint16(h)
	e.PACEParam = lds.ParamP256
	files, err := lds.BuildFiles(e, ldstest.TestPKI().DS)
	if err != nil {
		f.Fatal(err)
	}
	for _, b := range files {
		f.Add(b)
	}
	f.Add([]byte{0x61, 0x81})
	f.Add([]byte{0x7F, 0xFF, 0xFF, 0x01, 0x00})
}

// FuzzLDS feeds arbitrary bytes to every LDS parser: none may panic.
func FuzzLDS(f *testing.F) {
	seedFiles(f)
	ca := ldstest.TestPKI().CSCA
	f.Fuzz(func(t *testing.T, b []byte) {
		lds.ParseAll(b, 0)
		lds.ParseCOM(b)
		lds.ParseDG1(b)
		lds.ParseDG2(b)
		lds.ParseDG13(b)
		lds.ParseDG14(b)
		lds.ParseDG15(b)
		lds.ParseCardAccess(b)
		lds.ParseSOD(b)
		lds.PassiveAuth(b, map[int][]byte{1: b}, []*x509Cert{ca}, time.Now())
	})
}

// FuzzMRZ checks the MRZ parser on arbitrary text.
func FuzzMRZ(f *testing.F) {
	f.Add(specimenTD1)
	f.Add(specimenTD3)
	f.Add(ldstest.SampleMRZ.String())
	f.Fuzz(func(t *testing.T, s string) {
		m, err := lds.ParseMRZ(s)
		if err == nil && m.Format == "" {
			t.Fatal("parsed MRZ without format")
		}
	})
}
