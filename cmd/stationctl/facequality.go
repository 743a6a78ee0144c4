package main

import (
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/openenroll/stationd/capture/face"
	"github.com/openenroll/stationd/capture/face/yunet"
)

func init() {
	register(command{
		name:    "face-quality",
		summary: "check portrait files against the ICAO face quality rules",
		run:     runFaceQuality,
	})
}

func runFaceQuality(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("face-quality", flag.ContinueOnError)
	fs.SetOutput(stdout)
	asCSV := fs.Bool("csv", false, "print CSV: file, faces found, verdict, failing checks, each component's score")
	raw := fs.Bool("raw", false, "with --csv, print raw values instead of scores")
	cropDir := fs.String("crop", "", "write the ICAO full-frontal crop of each file with a face into this directory")
	budget := fs.Int("budget", 20000, "byte budget of the --crop JPEG")
	model := fs.String("yunet", "", "YuNet ONNX model file: detect faces with it instead of the OpenCV cascades")
	fs.Usage = func() {
		fmt.Fprintln(stdout, "usage: stationctl face-quality [--csv] [--crop OUT] FILE...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() == 0 {
		return usageError{"face-quality: give at least one image file"}
	}
	opts := face.Options{}
	if *model != "" {
		det, err := yunet.New(*model, yunet.Options{})
		if err != nil {
			return err
		}
		opts.Detector = det
	}
	an, err := face.NewAnalyzer(opts)
	if err != nil {
		return err
	}
	defer an.Close()
	if *cropDir != "" {
		if err := os.MkdirAll(*cropDir, 0o755); err != nil {
			return err
		}
	}
	var cw *csv.Writer
	if *asCSV {
		cw = csv.NewWriter(stdout)
		cw.Write(append([]string{"file", "faces", "verdict", "failing"}, face.ComponentIDs...))
	}
	var failed []string
	for _, name := range fs.Args() {
		data, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		res, err := an.AnalyzeBytes(data)
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		verdict := "fail"
		if res.Pass {
			verdict = "pass"
		}
		if cw != nil {
			row := []string{name, strconv.Itoa(len(res.Faces)), verdict, strings.Join(res.Failing(), " ")}
			for _, c := range res.Components {
				if *raw {
					row = append(row, strconv.FormatFloat(c.Raw, 'g', 4, 64))
				} else if c.Measured {
					row = append(row, strconv.Itoa(c.Score))
				} else {
					row = append(row, "")
				}
			}
			cw.Write(row)
		} else {
			codes := make([]string, len(res.Reasons))
			for i, r := range res.Reasons {
				codes[i] = r.Code
			}
			fmt.Fprintf(stdout, "%s: faces=%d %s score=%d %s\n", name, len(res.Faces), verdict, res.Score, strings.Join(codes, ","))
		}
		if *cropDir != "" && len(res.Faces) > 0 {
			jpg, err := face.CropJPEG(data, res.Faces[0], face.FullFrontal, *budget)
			if err != nil {
				failed = append(failed, fmt.Sprintf("%s: crop: %v", name, err))
				continue
			}
			out := filepath.Join(*cropDir, strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))+"_icao.jpg")
			if err := os.WriteFile(out, jpg, 0o644); err != nil {
				return err
			}
		}
	}
	if cw != nil {
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d file(s) could not be checked:\n%s", len(failed), strings.Join(failed, "\n"))
	}
	return nil
}
