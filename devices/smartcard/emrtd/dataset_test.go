package emrtd_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/openenroll/stationd/devices/smartcard/emrtd"
	"github.com/openenroll/stationd/devices/smartcard/lds"
	"github.com/openenroll/stationd/devices/smartcard/lds/ldstest"
)

var update = flag.Bool("update", false, "regenerate testdata/card/sample (new TEST-ONLY keys)")

const sampleDir = "../../../testdata/card/sample"

// TestSampleDataSet loads the committed sample data set, builds its files
// and checks they pass passive authentication with its CSCA. With
// -update it first regenerates the set (fresh test keys).
func TestSampleDataSet(t *testing.T) {
	if *update {
		writeSample(t, sampleDir)
	}
	ds, err := emrtd.LoadDataSet(sampleDir)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Enrollment.MRZ != ldstest.SampleMRZ || !reflect.DeepEqual(*ds.Enrollment.CCCD, ldstest.SampleCCCD) {
		t.Fatalf("sample content differs from ldstest: %+v", ds.Enrollment.MRZ)
	}
	if ds.Keys.AAKey == nil || ds.Keys.CAN == "" || ds.Enrollment.PACEParam != lds.ParamBrainpoolP256r1 || len(ds.CSCAs) != 1 {
		t.Fatalf("sample incomplete: %+v", ds.Keys)
	}
	files, err := ds.Files()
	if err != nil {
		t.Fatal(err)
	}
	dgs := map[int][]byte{}
	for _, n := range []int{1, 2, 13, 14, 15} {
		dgs[n] = files[lds.FIDForDG(n)]
	}
	if _, err := lds.PassiveAuth(files[lds.FIDSOD], dgs, ds.CSCAs, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := emrtd.LoadDataSet(t.TempDir()); err == nil {
		t.Fatal("empty directory loaded")
	}
}

func writeSample(t *testing.T, dir string) {
	os.MkdirAll(dir, 0o755)
	pki := ldstest.NewPKI("TEST ONLY CSCA VN")
	img, _, _ := ldstest.Portrait(15000)
	c := ldstest.SampleCCCD
	p := map[string]any{"mrz": ldstest.SampleMRZ, "cccd": &c, "can": "123456", "pace": "brainpoolP256r1"}
	js, _ := json.MarshalIndent(p, "", "  ")
	aa, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dsKey, _ := x509.MarshalPKCS8PrivateKey(pki.DS.Key)
	aaKey, _ := x509.MarshalPKCS8PrivateKey(aa)
	for name, b := range map[string][]byte{
		"person.json":  append(js, '\n'),
		"portrait.jpg": img,
		"ds.crt":       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pki.DS.Cert.Raw}),
		"ds.key":       pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: dsKey}),
		"aa.key":       pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: aaKey}),
		"csca.crt":     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pki.CSCA.Raw}),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
