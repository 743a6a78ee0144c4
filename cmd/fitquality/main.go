// Command fitquality fits the fingerprint quality model of capture/finger in
// the open, from the project's own synthetic prints, and writes the
// coefficients as Go source.
//
// It draws labelled impressions from firmware-sim/synthfinger
// (RandomImpression: contact, pressure, moisture, blur, noise, placement and
// dirt at random strengths; Label.Quality is the 0-100 ground truth), a
// share of them (-ink, default a quarter) rendered as scanned ink cards
// (Impression.Ink 0.5-1, loosely cropped frames of 300-470 x 400-620 px) so
// that the model does not take the look of ink and card for a bad print,
// runs
// finger.Assess on each, and fits a logistic model
//
//	score = 100 / (1 + exp(-(b + Σ w_i z_i)))
//
// on the standardised feature vector z (finger.Vector) by minimising the mean
// squared error to the label plus a small L2 penalty, with full-batch Adam.
// Impressions the not-a-fingerprint gate rejects are counted and left out
// (their score is 0 whatever the model says). The masters (identity, finger)
// are split 80/20 into training and validation sets; the validation RMSE and
// Spearman correlation are printed (also per style) and recorded in the
// generated file.
//
// Re-fit from the module root:
//
//	go run ./cmd/fitquality -out capture/finger/model_gen.go
//
// -n sets the number of impressions (default 800), -seed the random seed,
// -csv FILE also writes the features and labels, and -nfiq2 DIR prints the
// Spearman correlation with the NFIQ 2 scores of a calibration set
// (calibration.csv in DIR) after fitting, overall and per source family
// (SFinGe, ink cards). That set is only reported on, never fitted.
// -ceiling DIR instead fits the model's form to that set's NFIQ 2 scores,
// in-sample and with each source print held out, and prints the two
// Spearman correlations (nothing is written). The fit is least squares, so
// this is how far the model's form follows NFIQ 2's values, not a bound on
// its rank agreement: the shipped model, fitted on synthetic labels, ranks
// the calibration set slightly better than this fit does.
package main

import (
	"bytes"
	"encoding/csv"
	"encoding/gob"
	"flag"
	"fmt"
	"go/format"
	"image"
	_ "image/png"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/openenroll/stationd/capture/finger"
	"github.com/openenroll/stationd/firmware-sim/synthfinger"
)

const nFeat = len(finger.FeatureNames)

type sample struct {
	F      finger.Features
	x      [nFeat]float64
	Y      float64
	Master int
	Rej    string
	Ink    float64 // synthfinger Impression.Ink: 0 live scan, > 0 ink card
}

func main() {
	n := flag.Int("n", 800, "number of synthetic impressions")
	seed := flag.Uint64("seed", 1, "random seed of the impressions")
	perMaster := flag.Int("per-master", 4, "impressions per synthetic finger")
	inkShare := flag.Float64("ink", 0.25, "share of impressions rendered as scanned ink cards (synthfinger Impression.Ink)")
	out := flag.String("out", "", "write the generated Go file here (default: stdout)")
	csvOut := flag.String("csv", "", "also write features and labels as CSV")
	nfiq := flag.String("nfiq2", "", "directory with calibration.csv: report Spearman vs NFIQ 2 after fitting")
	iters := flag.Int("iters", 4000, "Adam iterations")
	l2 := flag.Float64("l2", 1e-3, "L2 penalty on the weights")
	workers := flag.Int("j", min(2, runtime.NumCPU()), "parallel workers")
	cache := flag.String("cache", "", "keep the measured impressions in this gob file and reuse it when it exists (for trying model variants)")
	ceiling := flag.String("ceiling", "", "directory with calibration.csv: only report how far the model's form can agree with NFIQ 2 when fitted to NFIQ 2 itself (in-sample and per held-out source), then exit")
	flag.Parse()
	if *ceiling != "" {
		reportCeiling(*ceiling, *iters, *l2)
		return
	}

	samples := loadOrGenerate(*cache, *n, *seed, *perMaster, *inkShare, *workers)
	for i := range samples {
		samples[i].x = finger.Vector(&samples[i].F)
	}
	if *csvOut != "" {
		if err := writeCSV(*csvOut, samples); err != nil {
			log.Fatal(err)
		}
	}
	var train, val []sample
	rejected := 0
	for _, s := range samples {
		if s.Rej != "" {
			rejected++
			continue
		}
		if s.Master%5 == 4 {
			val = append(val, s)
		} else {
			train = append(train, s)
		}
	}
	log.Printf("%d impressions: %d rejected by the gate, %d train, %d validation", len(samples), rejected, len(train), len(val))
	if len(train) < 2*nFeat {
		log.Fatalf("too few training samples (%d)", len(train))
	}
	m := fit(train, *iters, *l2)
	trR, trS := evaluate(&m, train)
	vaR, vaS := evaluate(&m, val)
	log.Printf("train: RMSE %.1f, Spearman %.3f; validation: RMSE %.1f, Spearman %.3f", trR, trS, vaR, vaS)
	var valLive, valInk []sample
	for _, s := range val {
		if s.Ink > 0 {
			valInk = append(valInk, s)
		} else {
			valLive = append(valLive, s)
		}
	}
	for _, st := range []struct {
		name string
		set  []sample
	}{{"live scan", valLive}, {"ink card", valInk}} {
		r, rho := evaluate(&m, st.set)
		log.Printf("  validation %-9s %3d: RMSE %.1f, Spearman %.3f", st.name, len(st.set), r, rho)
	}

	src := generateGo(&m, *n, *seed, *perMaster, *inkShare, len(train), len(val), rejected, trR, trS, vaR, vaS)
	if *out == "" {
		os.Stdout.Write(src)
	} else if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
	if *nfiq != "" {
		reportNFIQ2(&m, *nfiq)
	}
}

func loadOrGenerate(cache string, n int, seed uint64, perMaster int, inkShare float64, workers int) []sample {
	if cache != "" {
		if f, err := os.Open(cache); err == nil {
			defer f.Close()
			var s []sample
			if err := gob.NewDecoder(f).Decode(&s); err != nil {
				log.Fatalf("%s: %v", cache, err)
			}
			log.Printf("loaded %d measured impressions from %s", len(s), cache)
			return s
		}
	}
	s := generate(n, seed, perMaster, inkShare, workers)
	if cache != "" {
		f, err := os.Create(cache)
		if err != nil {
			log.Fatal(err)
		}
		if err := gob.NewEncoder(f).Encode(s); err != nil {
			log.Fatal(err)
		}
		f.Close()
	}
	return s
}

// generate renders and measures n impressions, perMaster per synthetic finger.
func generate(n int, seed uint64, perMaster int, inkShare float64, workers int) []sample {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	// The ink style has its own stream so that -ink 0 draws the same
	// live-scan impressions as before the style existed.
	inkRng := rand.New(rand.NewPCG(seed, 0x1ac))
	type job struct {
		i, master int
		id        uint64
		finger    int
		imp       synthfinger.Impression
	}
	jobs := make([]job, n)
	for i := range jobs {
		mi := i / perMaster
		if i%perMaster == 0 || i == 0 {
			jobs[i].id = rng.Uint64N(1 << 40)
			jobs[i].finger = 1 + rng.IntN(10)
		} else {
			jobs[i].id, jobs[i].finger = jobs[i-1].id, jobs[i-1].finger
		}
		jobs[i].i, jobs[i].master = i, mi
		jobs[i].imp = synthfinger.RandomImpression(rng)
		if inkRng.Float64() < inkShare {
			inkCard(&jobs[i].imp, inkRng)
		}
	}
	out := make([]sample, n)
	ch := make(chan job)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				img, lab, err := synthfinger.Print(j.id, j.finger, j.imp)
				if err != nil {
					log.Fatalf("synthfinger.Print(%d, %d): %v", j.id, j.finger, err)
				}
				res, err := finger.Assess(img, finger.StandardPPI)
				if err != nil {
					log.Fatalf("Assess: %v", err)
				}
				s := sample{F: res.Features, Y: float64(lab.Quality), Master: j.master, Ink: j.imp.Ink}
				if !res.Fingerprint {
					s.Rej = res.Rejection
				}
				out[j.i] = s
				mu.Lock()
				done++
				if done%100 == 0 {
					log.Printf("%d/%d impressions", done, n)
				}
				mu.Unlock()
			}
		}()
	}
	// Jobs of one master go out in order so the generator's master cache
	// is hit.
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
	return out
}

// inkCard turns a live-scan impression into a scanned ink card: ink of
// random strength, and a frame with some card margin around the finger (the
// scanned box of a ten-print card is cropped loosely), 300-470 x 400-620 px.
func inkCard(imp *synthfinger.Impression, rng *rand.Rand) {
	u := func(lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }
	imp.Ink = u(0.5, 1)
	imp.Width, imp.Height = int(u(300, 470)), int(u(400, 620))
}

// fit minimises mean((100σ(b + w·z) - y)²)/100² + l2·|w|² with Adam.
func fit(train []sample, iters int, l2 float64) finger.Model {
	var m finger.Model
	for k := 0; k < nFeat; k++ {
		var s, ss float64
		for _, t := range train {
			s += t.x[k]
		}
		mean := s / float64(len(train))
		for _, t := range train {
			ss += (t.x[k] - mean) * (t.x[k] - mean)
		}
		m.Mean[k] = mean
		m.Scale[k] = math.Sqrt(ss / float64(len(train)))
		if m.Scale[k] < 1e-9 {
			m.Scale[k] = 0 // constant feature: ignored by Predict
		}
	}
	z := make([][nFeat]float64, len(train))
	for i, t := range train {
		for k := range nFeat {
			if m.Scale[k] > 0 {
				z[i][k] = (t.x[k] - m.Mean[k]) / m.Scale[k]
			}
		}
	}
	const lr, b1, b2, eps = 0.03, 0.9, 0.999, 1e-8
	var p, g, m1, v1 [nFeat + 1]float64 // p[nFeat] is the bias
	for it := 1; it <= iters; it++ {
		clear(g[:])
		for i, t := range train {
			a := p[nFeat]
			for k := range nFeat {
				a += p[k] * z[i][k]
			}
			s := 1 / (1 + math.Exp(-a))
			e := s - t.Y/100
			d := 2 * e * s * (1 - s) / float64(len(train))
			for k := range nFeat {
				g[k] += d * z[i][k]
			}
			g[nFeat] += d
		}
		for k := range nFeat {
			g[k] += 2 * l2 * p[k]
		}
		for k := range p {
			m1[k] = b1*m1[k] + (1-b1)*g[k]
			v1[k] = b2*v1[k] + (1-b2)*g[k]*g[k]
			mh := m1[k] / (1 - math.Pow(b1, float64(it)))
			vh := v1[k] / (1 - math.Pow(b2, float64(it)))
			p[k] -= lr * mh / (math.Sqrt(vh) + eps)
		}
	}
	copy(m.W[:], p[:nFeat])
	m.Bias = p[nFeat]
	return m
}

func evaluate(m *finger.Model, set []sample) (rmse, rho float64) {
	if len(set) == 0 {
		return 0, 0
	}
	pred := make([]float64, len(set))
	lab := make([]float64, len(set))
	for i, s := range set {
		pred[i] = m.Predict(s.x)
		lab[i] = s.Y
		rmse += (pred[i] - s.Y) * (pred[i] - s.Y)
	}
	return math.Sqrt(rmse / float64(len(set))), finger.Spearman(pred, lab)
}

func generateGo(m *finger.Model, n int, seed uint64, perMaster int, inkShare float64, ntr, nva, nrej int, trR, trS, vaR, vaS float64) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by cmd/fitquality; DO NOT EDIT.\n")
	fmt.Fprintf(&b, "// Re-fit: go run ./cmd/fitquality -n %d -seed %d -per-master %d -ink %g -out capture/finger/model_gen.go\n\n", n, seed, perMaster, inkShare)
	fmt.Fprintf(&b, "package finger\n\n")
	fmt.Fprintf(&b, "// fitted was fitted on %d synthfinger impressions, %.0f %% of them scanned ink cards (%d rejected by the gate and left out):\n", n, 100*inkShare, nrej)
	fmt.Fprintf(&b, "// training %d, RMSE %.1f, Spearman %.3f; validation (other fingers) %d, RMSE %.1f, Spearman %.3f.\n", ntr, trR, trS, nva, vaR, vaS)
	fmt.Fprintf(&b, "var fitted = Model{\n")
	arr := func(name string, v [nFeat]float64) {
		fmt.Fprintf(&b, "\t%s: [nFeat]float64{\n", name)
		for k, x := range v {
			fmt.Fprintf(&b, "\t\t%s, // %s\n", strconv.FormatFloat(x, 'g', 8, 64), finger.FeatureNames[k])
		}
		fmt.Fprintf(&b, "\t},\n")
	}
	arr("Mean", m.Mean)
	arr("Scale", m.Scale)
	arr("W", m.W)
	fmt.Fprintf(&b, "\tBias: %s,\n}\n", strconv.FormatFloat(m.Bias, 'g', 8, 64))
	src, err := format.Source(b.Bytes())
	if err != nil {
		log.Fatalf("generated source does not format: %v", err)
	}
	return src
}

func writeCSV(name string, samples []sample) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	head := append([]string{"label", "master", "rejection"}, finger.FeatureNames[:]...)
	w.Write(head)
	for _, s := range samples {
		row := []string{strconv.FormatFloat(s.Y, 'f', 0, 64), strconv.Itoa(s.Master), s.Rej}
		for _, x := range s.x {
			row = append(row, strconv.FormatFloat(x, 'g', 6, 64))
		}
		w.Write(row)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// reportNFIQ2 prints the Spearman correlation of the fitted model's score
// with NFIQ 2 over the scored fingerprints of a calibration set.
// calRow is one print of the NFIQ 2 calibration set, measured.
type calRow struct {
	source string
	nfiq2  float64
	score  int    // finger.Assess's score with the shipped model
	s      sample // features; Rej set when our gate rejects the print
}

// loadCalibration measures the prints of calibration.csv in dir that NFIQ
// 2 scored (negatives and the prints it refused left out).
func loadCalibration(dir string) ([]calRow, error) {
	f, err := os.Open(filepath.Join(dir, "calibration.csv"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) < 2 {
		return nil, fmt.Errorf("calibration.csv: %v", err)
	}
	var out []calRow
	for _, r := range rows[1:] {
		if len(r) < 8 || r[1] == "" || r[7] == "neg" {
			continue
		}
		q, err := strconv.ParseFloat(r[1], 64)
		if err != nil {
			continue
		}
		img, err := readPNG(filepath.Join(dir, r[0]))
		if err != nil {
			return nil, err
		}
		res, err := finger.Assess(img, finger.StandardPPI)
		if err != nil {
			continue
		}
		c := calRow{source: r[7], nfiq2: q, score: res.Score, s: sample{F: res.Features, Y: q}}
		c.s.x = finger.Vector(&res.Features)
		if !res.Fingerprint {
			c.s.Rej = res.Rejection
		}
		out = append(out, c)
	}
	return out, nil
}

func reportNFIQ2(m *finger.Model, dir string) {
	cal, err := loadCalibration(dir)
	if err != nil {
		log.Printf("nfiq2: %v", err)
		return
	}
	var ours, ref []float64
	// per source family ("SFinGe" or the ink-card scans), for the report
	type fam struct{ ours, ref []float64 }
	fams := map[string]*fam{}
	for _, c := range cal {
		s := 0.0
		if c.s.Rej == "" {
			s = m.Predict(c.s.x)
		}
		ours = append(ours, s)
		ref = append(ref, c.nfiq2)
		name := "ink card"
		if strings.HasPrefix(c.source, "SFinGe") {
			name = "SFinGe"
		}
		if fams[name] == nil {
			fams[name] = &fam{}
		}
		fams[name].ours = append(fams[name].ours, s)
		fams[name].ref = append(fams[name].ref, c.nfiq2)
	}
	log.Printf("NFIQ 2 calibration set: %d prints, Spearman %.3f", len(ours), finger.Spearman(ours, ref))
	for _, name := range []string{"SFinGe", "ink card"} {
		f := fams[name]
		if f == nil {
			continue
		}
		log.Printf("  %-8s %3d prints: Spearman %.3f, mean score %.1f (NFIQ 2 %.1f)", name, len(f.ours), finger.Spearman(f.ours, f.ref), mean(f.ours), mean(f.ref))
	}
}

// reportCeiling fits the model's form (the same features, the same
// logistic) to NFIQ 2's own scores of the calibration set, as a bound on
// what any labels could teach it: in-sample, and with each source print
// (all its variants) held out in turn, fitted on the others. Nothing it
// fits is written anywhere.
func reportCeiling(dir string, iters int, l2 float64) {
	cal, err := loadCalibration(dir)
	if err != nil {
		log.Fatalf("ceiling: %v", err)
	}
	in, held, sources, rmse := ceiling(cal, iters, l2)
	log.Printf("ceiling: the model's form fitted to NFIQ 2 itself on %d prints of %d sources: RMSE %.1f, Spearman %.3f in-sample, %.3f with each source held out",
		len(cal), sources, rmse, in, held)
}

// ceiling returns the Spearman correlations of reportCeiling and the
// in-sample fit's RMSE against NFIQ 2.
func ceiling(cal []calRow, iters int, l2 float64) (inSample, heldOut float64, nSources int, rmse float64) {
	predict := func(m *finger.Model, c calRow) float64 {
		if c.s.Rej != "" {
			return 0
		}
		return m.Predict(c.s.x)
	}
	var all []sample
	sources := map[string]bool{}
	for _, c := range cal {
		sources[c.source] = true
		if c.s.Rej == "" {
			all = append(all, c.s)
		}
	}
	m := fit(all, iters, l2)
	var in, held, ref []float64
	for _, c := range cal {
		p := predict(&m, c)
		in = append(in, p)
		ref = append(ref, c.nfiq2)
		rmse += (p - c.nfiq2) * (p - c.nfiq2)
	}
	rmse = math.Sqrt(rmse / float64(max(len(cal), 1)))
	held = make([]float64, len(cal))
	for src := range sources {
		var train []sample
		for _, c := range cal {
			if c.source != src && c.s.Rej == "" {
				train = append(train, c.s)
			}
		}
		ms := fit(train, iters, l2)
		for i, c := range cal {
			if c.source == src {
				held[i] = predict(&ms, c)
			}
		}
	}
	return finger.Spearman(in, ref), finger.Spearman(held, ref), len(sources), rmse
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(max(len(v), 1))
}

func readPNG(name string) (*image.Gray, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	g, ok := img.(*image.Gray)
	if !ok {
		return nil, fmt.Errorf("%s: not 8-bit grey", name)
	}
	return g, nil
}
