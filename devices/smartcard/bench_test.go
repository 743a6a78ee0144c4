package smartcard_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/openenroll/stationd/devices/smartcard/apdu"
	"github.com/openenroll/stationd/devices/smartcard/emrtd"
	"github.com/openenroll/stationd/devices/smartcard/icao"
	"github.com/openenroll/stationd/devices/smartcard/lds"
	"github.com/openenroll/stationd/devices/smartcard/lds/ldstest"
	"github.com/openenroll/stationd/firmware-sim/card"
)

// BenchmarkCardRead is a full read end to end through pcscd and vpcd:
// access control, EF.COM, EF.SOD, DG1, DG2 (~15 KB), DG13, DG14, DG15,
// passive and active authentication.
func BenchmarkCardRead(b *testing.B) {
	for _, bc := range []struct {
		name    string
		param   int
		maxRead int
	}{
		{"BAC", 0, 0},
		{"BAC-extended-1KiB", 0, 1024},
		{"PACE-P256", lds.ParamP256, 0},
		{"PACE-brainpool", lds.ParamBrainpoolP256r1, 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c, e := personalizedCard(b, bc.param)
			sc := insert(b, c)
			k := e.MRZ.Key()
			o := emrtd.ReadOptions{Key: emrtd.AccessKey{MRZ: &k}, CSCAs: cscas(), MaxRead: bc.maxRead}
			ctx := context.Background()
			apdus, bytes := 0, 0
			for b.Loop() {
				d, err := emrtd.Read(ctx, sc, o)
				if err != nil {
					b.Fatal(err)
				}
				if !d.Verified() {
					b.Fatalf("not verified: %v %v", d.PAErr, d.AAErr)
				}
				apdus += d.APDUs
				bytes = 0
				for _, f := range d.Files {
					bytes += len(f)
				}
			}
			b.ReportMetric(float64(apdus)/float64(b.N), "apdu/op")
			b.ReportMetric(float64(bytes), "file_bytes/op")
		})
	}
}

// BenchmarkCardPersonalize writes the sample document (DG2 ~15 KB) to a
// blank card through pcscd and locks it.
func BenchmarkCardPersonalize(b *testing.B) {
	c := card.New()
	sc := insert(b, c)
	e := ldstest.SampleEnrollment()
	aa, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	e.AAPublicKey = &aa.PublicKey
	e.PACEParam = lds.ParamP256
	files, err := lds.BuildFiles(e, ldstest.TestPKI().DS)
	if err != nil {
		b.Fatal(err)
	}
	keys := emrtd.PersoKeys{MRZ: e.MRZ.Key(), CAN: sampleCAN, AAKey: aa}
	ctx := context.Background()
	apdus := 0
	for b.Loop() {
		c.Wipe()
		st, err := emrtd.Personalize(ctx, sc, files, keys, emrtd.PersoOptions{})
		if err != nil {
			b.Fatal(err)
		}
		apdus += st.APDUs
	}
	b.ReportMetric(float64(apdus)/float64(b.N), "apdu/op")
}

// BenchmarkCardAPDURate measures APDU round trips through pcscd and vpcd:
// plain SELECT, and READ BINARY of 223 bytes under 3DES secure messaging.
func BenchmarkCardAPDURate(b *testing.B) {
	c, e := personalizedCard(b, 0)
	sc := insert(b, c)
	ctx := context.Background()
	b.Run("plain-SELECT", func(b *testing.B) {
		cmd := apdu.Command{INS: 0xA4, P1: 4, P2: 0x0C, Data: icao.AIDeMRTD}
		raw, _ := cmd.Encode()
		for b.Loop() {
			if _, err := sc.Transmit(ctx, raw); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "apdu/s")
	})
	b.Run("SM-READ-BINARY", func(b *testing.B) {
		s := icao.NewSession(sc)
		if err := s.SelectApplication(ctx); err != nil {
			b.Fatal(err)
		}
		if err := s.BAC(ctx, e.MRZ.Key()); err != nil {
			b.Fatal(err)
		}
		if err := s.SelectFile(ctx, lds.FIDForDG(2)); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := s.Do(ctx, apdu.Command{INS: 0xB0, Ne: icao.DefaultMaxRead}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "apdu/s")
		b.ReportMetric(float64(b.N*icao.DefaultMaxRead)/b.Elapsed().Seconds()/1024, "KiB/s")
	})
}
