package main

import (
	"bufio"
	"context"
	"encoding/json"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFwsimSynthWritesImagesAndLabels(t *testing.T) {
	dir := t.TempDir()
	err := runSynth(context.Background(), []string{"-id", "4", "-finger", "7", "-n", "2", "-width", "128", "-height", "144", "-out", dir}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	pngs, _ := filepath.Glob(filepath.Join(dir, "*.png"))
	if len(pngs) != 2 {
		t.Fatalf("wrote %d PNGs, want 2: %v", len(pngs), pngs)
	}
	f, err := os.Open(pngs[0])
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil || img.Bounds().Dx() != 128 || img.Bounds().Dy() != 144 {
		t.Fatalf("image: %v %v", img.Bounds(), err)
	}
	labels, _ := filepath.Glob(filepath.Join(dir, "labels_*.jsonl"))
	if len(labels) != 1 {
		t.Fatalf("labels files: %v", labels)
	}
	lf, _ := os.Open(labels[0])
	defer lf.Close()
	sc := bufio.NewScanner(lf)
	n := 0
	for sc.Scan() {
		var l map[string]any
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("label line %q: %v", sc.Text(), err)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("%d label lines, want 2", n)
	}
}

func TestFwsimSynthRejectsBadFinger(t *testing.T) {
	err := runSynth(context.Background(), []string{"-finger", "11", "-out", t.TempDir()}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "11") {
		t.Fatalf("finger 11: %v", err)
	}
}
