package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"fmt"
	"image"
	"image/draw"
	_ "image/png" // PNG input
	"io"
	"os"
	"strconv"
	"strings"

	_ "golang.org/x/image/bmp" // BMP input (registers itself with image)

	"github.com/openenroll/stationd/capture/finger"
)

func init() {
	register(command{
		name:    "finger-quality",
		summary: "score fingerprint image files (PNG, PGM, BMP; 8-bit grey)",
		run:     runFingerQuality,
	})
}

func runFingerQuality(args []string, stdout io.Writer) error {
	fs := newFlags("finger-quality", os.Stderr)
	asCSV := fs.Bool("csv", false, "print CSV: file,score,verdict,reasons and the main features")
	ppi := fs.Int("ppi", finger.StandardPPI, "resolution of the images in pixels per inch")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: stationctl finger-quality [--csv] [--ppi N] FILE...")
		fs.PrintDefaults()
	}
	// Flags may come before or after the files
	// (stationctl finger-quality FILE... --csv).
	var flagArgs, files []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			files = append(files, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "-") && a != "-":
			flagArgs = append(flagArgs, a)
			name := strings.TrimLeft(a, "-")
			if (name == "ppi") && i+1 < len(args) {
				flagArgs = append(flagArgs, args[i+1])
				i++
			}
		default:
			files = append(files, a)
		}
	}
	if err := fs.Parse(flagArgs); err != nil {
		return err
	}
	if len(files) == 0 {
		return usageError{"finger-quality: give at least one image file"}
	}
	var cw *csv.Writer
	if *asCSV {
		cw = csv.NewWriter(stdout)
		cw.Write([]string{"file", "score", "verdict", "reasons",
			"fg_fraction", "mean", "mmb", "contrast", "ocl", "coherence", "ofl", "lcs", "fda", "rvu",
			"ridge_ratio", "ridge_period", "ridge_fraction", "orient_spread", "minutiae", "minutiae_centre",
			"minutiae_density", "rejection"})
	}
	failed := 0
	for _, name := range files {
		img, err := readGray(name)
		var res finger.Result
		if err == nil {
			res, err = finger.Assess(img, *ppi)
		}
		if err != nil {
			failed++
			if cw != nil {
				cw.Write([]string{name, "", "error", err.Error()})
			} else {
				fmt.Fprintf(stdout, "%s\terror\t%v\n", name, err)
			}
			continue
		}
		verdict := "fingerprint"
		if !res.Fingerprint {
			verdict = "rejected"
		}
		rs := make([]string, len(res.Reasons))
		for i, r := range res.Reasons {
			rs[i] = string(r)
		}
		if cw == nil {
			line := fmt.Sprintf("%s\t%3d\t%s", name, res.Score, verdict)
			if len(rs) > 0 {
				line += "\t" + strings.Join(rs, "; ")
			}
			if res.Rejection != "" {
				line += " (" + res.Rejection + ")"
			}
			fmt.Fprintln(stdout, line)
			continue
		}
		f := res.Features
		g := func(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }
		cw.Write([]string{name, strconv.Itoa(res.Score), verdict, strings.Join(rs, "; "),
			g(f.ForegroundFraction), g(f.Mean), g(f.MeanBlockMean), g(f.Contrast), g(f.OCL), g(f.Coherence),
			g(f.OFL), g(f.LCS), g(f.FDA), g(f.RVU), g(f.RidgeRatio), g(f.RidgePeriod), g(f.RidgeFraction),
			g(f.OrientationSpread), strconv.Itoa(f.Minutiae), strconv.Itoa(f.MinutiaeCentre),
			g(f.MinutiaeDensity), res.Rejection})
	}
	if cw != nil {
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d files could not be scored", failed, len(files))
	}
	return nil
}

// readGray reads a PNG, BMP or PGM (P5, 8-bit) file as 8-bit grey. Colour
// images are refused rather than silently converted: the quality score is
// defined on the scanner's grey levels.
func readGray(name string) (*image.Gray, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	if bytes.HasPrefix(data, []byte("P5")) {
		g, err := decodePGM(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return g, nil
	}
	img, format, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: not a PNG, BMP or PGM image: %w", name, err)
	}
	switch m := img.(type) {
	case *image.Gray:
		return m, nil
	case *image.Paletted:
		// 8-bit grey BMPs decode as paletted; accept grey palettes only.
		for _, c := range m.Palette {
			r, g, b, _ := c.RGBA()
			if r != g || g != b {
				return nil, fmt.Errorf("%s: %s with a colour palette; give an 8-bit grey image", name, format)
			}
		}
		out := image.NewGray(m.Bounds())
		draw.Draw(out, out.Bounds(), m, m.Bounds().Min, draw.Src)
		return out, nil
	}
	return nil, fmt.Errorf("%s: %s image is %T, not 8-bit grey", name, format, img)
}

// decodePGM decodes a binary PGM (P5) with maxval <= 255.
func decodePGM(data []byte) (*image.Gray, error) {
	r := bufio.NewReader(bytes.NewReader(data))
	var vals [4]int
	magic := make([]byte, 2)
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != "P5" {
		return nil, fmt.Errorf("PGM: bad magic")
	}
	for i := 1; i < 4; i++ {
		// Skip whitespace and comments.
		for {
			b, err := r.ReadByte()
			if err != nil {
				return nil, fmt.Errorf("PGM: header truncated")
			}
			if b == '#' {
				if _, err := r.ReadString('\n'); err != nil {
					return nil, fmt.Errorf("PGM: header truncated in a comment")
				}
				continue
			}
			if b == ' ' || b == '\t' || b == '\n' || b == '\r' {
				continue
			}
			r.UnreadByte()
			break
		}
		n := 0
		digits := 0
		for {
			b, err := r.ReadByte()
			if err != nil {
				return nil, fmt.Errorf("PGM: header truncated")
			}
			if b < '0' || b > '9' {
				break // the single whitespace after the last field is consumed here
			}
			n = n*10 + int(b-'0')
			digits++
			if n > 1<<20 {
				return nil, fmt.Errorf("PGM: header field %d too large", i)
			}
		}
		if digits == 0 {
			return nil, fmt.Errorf("PGM: header field %d is not a number", i)
		}
		vals[i] = n
	}
	w, h, maxv := vals[1], vals[2], vals[3]
	if w <= 0 || h <= 0 || maxv <= 0 || maxv > 255 {
		return nil, fmt.Errorf("PGM: %dx%d with maxval %d: only 8-bit grey is supported", w, h, maxv)
	}
	if w*h > 1<<26 {
		return nil, fmt.Errorf("PGM: %dx%d is too large", w, h)
	}
	g := image.NewGray(image.Rect(0, 0, w, h))
	if _, err := io.ReadFull(r, g.Pix); err != nil {
		return nil, fmt.Errorf("PGM: pixel data truncated (%dx%d needs %d bytes)", w, h, w*h)
	}
	if maxv != 255 {
		for i, v := range g.Pix {
			g.Pix[i] = uint8(min(int(v), maxv) * 255 / maxv)
		}
	}
	return g, nil
}
