package main

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFaceQualityCommand(t *testing.T) {
	dir := "../../testdata/faces"
	files := []string{filepath.Join(dir, "grace_hopper_512x512.jpg"), filepath.Join(dir, "hopper_blur6.jpg")}
	var out bytes.Buffer
	crops := t.TempDir()
	if err := runFaceQuality(append([]string{"--csv", "--crop", crops}, files...), &out); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if len(rows) != 3 || rows[0][0] != "file" || rows[0][4] != "single_face" {
		t.Fatalf("rows %v", rows)
	}
	if rows[1][1] != "1" || rows[1][2] != "pass" || rows[2][2] != "fail" || !strings.Contains(rows[2][3], "sharpness") {
		t.Errorf("verdicts %v / %v", rows[1][:4], rows[2][:4])
	}
	jpg, err := os.ReadFile(filepath.Join(crops, "grace_hopper_512x512_icao.jpg"))
	if err != nil || len(jpg) == 0 || len(jpg) > 20000 {
		t.Errorf("crop: %d bytes, %v", len(jpg), err)
	}
	out.Reset()
	if err := runFaceQuality(files[:1], &out); err != nil || !strings.Contains(out.String(), "pass") {
		t.Errorf("plain output %q, %v", out.String(), err)
	}
	if err := runFaceQuality(nil, &out); err == nil {
		t.Error("no files: no error")
	}
	if err := runFaceQuality([]string{filepath.Join(t.TempDir(), "none.jpg")}, &out); err == nil {
		t.Error("missing file: no error")
	}
}
