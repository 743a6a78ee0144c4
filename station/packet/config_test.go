package packet

import (
	"bytes"
	"image"
	"image/png"
	"path/filepath"
	"testing"

	"github.com/openenroll/stationd/capture/wsq"
)

func TestConfig(t *testing.T) {
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	if _, err := GenerateStationKey(p("s.key"), p("s.pub"), "BOOTH-7"); err != nil {
		t.Fatal(err)
	}
	if _, err := GenerateCentralKey(p("c.key"), p("c.pub")); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.SigningKey, c.CentralPublicKey = p("s.key"), p("c.pub")
	c.FingerCompression = "WSQ20"
	o, err := c.Options()
	if err != nil {
		t.Fatal(err)
	}
	ring, trusted, err := CentralConfig{PrivateKeys: []string{p("c.key")}, TrustedStations: []string{p("s.pub")}}.Load()
	if err != nil {
		t.Fatal(err)
	}
	pk, err := Build(testEnrollment(t, 48, 56), o)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(pk.Bytes, ring, trusted)
	if err != nil {
		t.Fatal(err)
	}
	if got.Manifest.FingerCompression != CompressionWSQ || got.Records.Transaction.Type14[0].CGA != "WSQ20" {
		t.Errorf("config compression not applied")
	}
	for name, mut := range map[string]func(*Config){
		"no signing key": func(c *Config) { c.SigningKey = "" },
		"no central key": func(c *Config) { c.CentralPublicKey = "" },
		"compression":    func(c *Config) { c.FingerCompression = "JPEG" },
		"bitrate":        func(c *Config) { c.WSQBitrate = 40 },
		"allocation":     func(c *Config) { c.WSQAllocation = "jpeg" },
		"separator":      func(c *Config) { c.DAI = "A\x1eB" },
		"missing file":   func(c *Config) { c.SigningKey = p("nope.key") },
	} {
		cc := c
		mut(&cc)
		if _, err := cc.Options(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// wsq_allocation picks the encoder: "mse" writes what wsq.EncodeMSE
	// writes, "fbi" what wsq.Encode writes, and the two differ.
	img := testEnrollment(t, 48, 56).Fingers[0].Image
	want := map[string][]byte{}
	for alloc, enc := range map[string]func(*image.Gray, int, float64) ([]byte, error){"fbi": wsq.Encode, "mse": wsq.EncodeMSE} {
		cc := c
		cc.WSQAllocation = alloc
		oo, err := cc.Options()
		if err != nil {
			t.Fatalf("%s: %v", alloc, err)
		}
		got, err := oo.WSQEncode(img, 500, cc.WSQBitrate)
		if err != nil {
			t.Fatal(err)
		}
		exp, _ := enc(img, 500, cc.WSQBitrate)
		if !bytes.Equal(got, exp) {
			t.Errorf("wsq_allocation %q: not the %s encoder", alloc, alloc)
		}
		want[alloc] = got
	}
	if bytes.Equal(want["fbi"], want["mse"]) {
		t.Error("fbi and mse allocations wrote the same file")
	}
	if _, _, err := (CentralConfig{PrivateKeys: []string{p("c.key")}}).Load(); err == nil {
		t.Error("central without trusted stations accepted")
	}
}

func TestCheckImageData(t *testing.T) {
	img := testFinger(40, 30, 1)
	var pb bytes.Buffer
	if err := png.Encode(&pb, img); err != nil {
		t.Fatal(err)
	}
	wb, err := wsq.Encode(img, 500, 0.75)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		c    Compression
		data []byte
		w, h int
		ok   bool
	}{
		{CompressionPNG, pb.Bytes(), 40, 30, true},
		{CompressionPNG, pb.Bytes(), 30, 40, false},
		{CompressionPNG, wb, 40, 30, false},
		{CompressionWSQ, wb, 40, 30, true},
		{CompressionWSQ, wb, 41, 30, false},
		{CompressionWSQ, pb.Bytes(), 40, 30, false},
		{CompressionNone, img.Pix, 40, 30, true},
		{CompressionNone, img.Pix[1:], 40, 30, false},
		{"JP2", img.Pix, 40, 30, false},
	} {
		err := checkImageData(c.c, c.data, c.w, c.h)
		if (err == nil) != c.ok {
			t.Errorf("%s %dx%d: err %v, want ok=%v", c.c, c.w, c.h, err, c.ok)
		}
	}
}
