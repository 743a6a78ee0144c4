package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image/png"
	"io"
	"os"
	"path/filepath"

	"github.com/openenroll/stationd/firmware-sim/synthfinger"
)

func init() {
	register(simulator{
		name:    "synth",
		summary: "write synthetic fingerprint PNGs with ground-truth quality labels",
		run:     runSynth,
	})
}

// synthSweep lists the degradation axes and levels of --quality-sweep; each
// level changes one parameter of the good impression.
var synthSweep = []struct {
	axis   string
	levels []float64
	apply  func(*synthfinger.Impression, float64)
}{
	{"contact", []float64{0.8, 0.55, 0.35, 0.2}, func(i *synthfinger.Impression, v float64) { i.Contact = v }},
	{"pressure", []float64{0.1, 0.3, 0.7, 0.9}, func(i *synthfinger.Impression, v float64) { i.Pressure = v }},
	{"moisture", []float64{-1, -0.6, -0.3, 0.3, 0.6, 1}, func(i *synthfinger.Impression, v float64) { i.Moisture = v }},
	{"blur", []float64{1, 2, 3}, func(i *synthfinger.Impression, v float64) { i.Blur = v }},
	{"noise", []float64{10, 25, 50}, func(i *synthfinger.Impression, v float64) { i.Noise = v }},
	{"rotate", []float64{15, 30}, func(i *synthfinger.Impression, v float64) { i.RotationDeg = v }},
	{"offset", []float64{0.15, 0.3, 0.45}, func(i *synthfinger.Impression, v float64) { i.OffsetX = v }},
	{"dirt", []float64{0.3, 0.6, 1}, func(i *synthfinger.Impression, v float64) { i.Dirt = v }},
}

type synthRecord struct {
	File string `json:"file"`
	synthfinger.Label
	Identity uint64 `json:"identity"`
	Finger   int    `json:"finger"`
	Axis     string `json:"axis,omitempty"`
	Level    string `json:"level,omitempty"`
}

func runSynth(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("synth", flag.ContinueOnError)
	fs.SetOutput(stderr)
	id := fs.Uint64("id", 1, "identity seed")
	finger := fs.Int("finger", 1, "finger position 1..10 (1 right thumb .. 10 left little)")
	n := fs.Int("n", 1, "number of impressions (seeds 1..n) of a good quality")
	out := fs.String("out", ".", "output directory (created if missing)")
	width := fs.Int("width", synthfinger.DefaultWidth, "image width in pixels (500 ppi); 256 for an R307")
	height := fs.Int("height", synthfinger.DefaultHeight, "image height in pixels; 288 for an R307")
	sweep := fs.Bool("quality-sweep", false, "also write one image per degradation axis and level")
	random := fs.Int("random", 0, "also write this many randomly degraded impressions (for fitting)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 0 || *random < 0 {
		return errors.New("--n and --random must not be negative")
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("creating output directory: %w", err)
	}
	lf, err := os.Create(filepath.Join(*out, fmt.Sprintf("labels_id%d_f%d.jsonl", *id, *finger)))
	if err != nil {
		return fmt.Errorf("creating label file: %w", err)
	}
	defer lf.Close()
	enc := json.NewEncoder(lf)
	write := func(name string, imp synthfinger.Impression, axis, level string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		img, lab, err := synthfinger.Print(*id, *finger, imp)
		if err != nil {
			return err
		}
		path := filepath.Join(*out, name)
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := png.Encode(f, img); err != nil {
			f.Close()
			return fmt.Errorf("writing %s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s quality=%d class=%s\n", path, lab.Quality, lab.Class)
		return enc.Encode(synthRecord{File: name, Label: lab, Identity: *id, Finger: *finger, Axis: axis, Level: level})
	}
	base := synthfinger.GoodImpression()
	base.Width, base.Height = *width, *height
	prefix := fmt.Sprintf("id%d_f%d", *id, *finger)
	for k := 1; k <= *n; k++ {
		imp := base
		imp.Seed = uint64(k)
		if err := write(fmt.Sprintf("%s_%d.png", prefix, k), imp, "", ""); err != nil {
			return err
		}
	}
	if *sweep {
		for _, ax := range synthSweep {
			for _, lv := range ax.levels {
				imp := base
				ax.apply(&imp, lv)
				level := fmt.Sprintf("%g", lv)
				if err := write(fmt.Sprintf("%s__%s_%s.png", prefix, ax.axis, level), imp, ax.axis, level); err != nil {
					return err
				}
			}
		}
	}
	if *random > 0 {
		rng := synthfinger.NewRand(*id, uint64(*finger), 0x72616e64)
		for k := 1; k <= *random; k++ {
			imp := synthfinger.RandomImpression(rng)
			if imp.Width == synthfinger.DefaultWidth && imp.Height == synthfinger.DefaultHeight {
				imp.Width, imp.Height = *width, *height
			}
			if err := write(fmt.Sprintf("%s__random_%d.png", prefix, k), imp, "random", fmt.Sprint(k)); err != nil {
				return err
			}
		}
	}
	return nil
}
