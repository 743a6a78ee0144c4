package main

import (
	"flag"
	"fmt"
	"image/png"
	"io"
	"os"

	"github.com/openenroll/stationd/capture/wsq"
)

func init() {
	register(command{
		name:    "wsq",
		summary: "compress a fingerprint image to WSQ, or decompress WSQ to PNG",
		run:     runWSQ,
	})
}

const wsqUsage = `usage:
  stationctl wsq encode IN.(pgm|png|bmp) OUT.wsq [--bitrate 0.75] [--ppi 500] [--alloc fbi|mse] [--fixed-rate]
  stationctl wsq decode IN.wsq OUT.png`

func runWSQ(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError{wsqUsage}
	}
	switch args[0] {
	case "encode":
		return runWSQEncode(args[1:], stdout)
	case "decode":
		return runWSQDecode(args[1:], stdout)
	case "-h", "--help", "help":
		fmt.Fprintln(os.Stderr, wsqUsage)
		return flag.ErrHelp
	}
	return usageError{fmt.Sprintf("unknown wsq action %q\n%s", args[0], wsqUsage)}
}

// parseInterleaved parses flags that may come before, between or after
// the positional arguments, and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func runWSQEncode(args []string, stdout io.Writer) error {
	fs := newFlags("wsq encode", os.Stderr)
	bitrate := fs.Float64("bitrate", wsq.DefaultBitrate, "target bits per pixel (0.75 is the FBI's rate for 500 ppi prints; 2.25 near-lossless)")
	ppi := fs.Int("ppi", 500, "the image's resolution, recorded in the file's NISTCOM comment")
	alloc := fs.String("alloc", "fbi", "bit allocation: fbi (FBI encoder #1, the bit rate sets the distortion: about 15:1 at 0.75) or mse (least squared error, the bit rate caps the size)")
	fixedRate := fs.Bool("fixed-rate", false, "with --alloc fbi: scale the bin widths so the file holds bitrate × pixels / 8 bytes")
	fs.Usage = func() { fmt.Fprintln(os.Stderr, wsqUsage); fs.PrintDefaults() }
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	opts := wsq.Options{PPI: *ppi, Bitrate: *bitrate, FixedRate: *fixedRate}
	switch *alloc {
	case wsq.AllocFBI.String():
		opts.Allocation = wsq.AllocFBI
	case wsq.AllocMSE.String():
		opts.Allocation = wsq.AllocMSE
	default:
		return usageError{fmt.Sprintf("--alloc %q: use fbi or mse\n%s", *alloc, wsqUsage)}
	}
	if *bitrate == 0 {
		return usageError{"--bitrate 0: give a rate above 0 bits per pixel\n" + wsqUsage}
	}
	if len(pos) != 2 {
		return usageError{"wsq encode needs an input image and an output file\n" + wsqUsage}
	}
	img, err := readGray(pos[0])
	if err != nil {
		return err
	}
	data, err := wsq.EncodeOptions(img, opts)
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	if err := os.WriteFile(pos[1], data, 0o644); err != nil {
		return err
	}
	n := img.Rect.Dx() * img.Rect.Dy()
	fmt.Fprintf(stdout, "%s: %dx%d, %d bytes, ratio %.1f:1 (%.2f bits per pixel, target %.2f)\n",
		pos[1], img.Rect.Dx(), img.Rect.Dy(), len(data), float64(n)/float64(len(data)), 8*float64(len(data))/float64(n), *bitrate)
	return nil
}

func runWSQDecode(args []string, stdout io.Writer) error {
	fs := newFlags("wsq decode", os.Stderr)
	fs.Usage = func() { fmt.Fprintln(os.Stderr, wsqUsage) }
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageError{"wsq decode needs an input .wsq file and an output .png file\n" + wsqUsage}
	}
	data, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	img, ppi, err := wsq.Decode(data)
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	f, err := os.Create(pos[1])
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", pos[1], err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	res := "resolution not recorded"
	if ppi > 0 {
		res = fmt.Sprintf("%d ppi", ppi)
	}
	fmt.Fprintf(stdout, "%s: %dx%d, %s\n", pos[1], img.Rect.Dx(), img.Rect.Dy(), res)
	return nil
}
