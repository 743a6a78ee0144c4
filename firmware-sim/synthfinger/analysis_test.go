package synthfinger

// Image measurements the tests use to check that the pictures really show
// what the labels and parameters say. They are deliberately independent of
// the generator's internals: they only look at pixels.

import (
	"image"
	"math"
	"math/cmplx"
)

// foregroundBlocks counts 16x16 blocks that hold print: grey-level standard
// deviation above 12 and mean below 245 (the rule the calibration set's
// README uses to define a print's foreground).
func foregroundBlocks(img *image.Gray) int {
	b := img.Bounds()
	n := 0
	for by := 0; by+16 <= b.Dy(); by += 16 {
		for bx := 0; bx+16 <= b.Dx(); bx += 16 {
			var s, s2 float64
			for y := by; y < by+16; y++ {
				for x := bx; x < bx+16; x++ {
					v := float64(img.Pix[y*img.Stride+x])
					s += v
					s2 += v * v
				}
			}
			mean := s / 256
			sd := math.Sqrt(math.Max(s2/256-mean*mean, 0))
			if sd > 12 && mean < 245 {
				n++
			}
		}
	}
	return n
}

// laplacianEnergy is the mean squared 4-neighbour Laplacian over the image:
// a measure of high-frequency content.
func laplacianEnergy(img *image.Gray) float64 {
	b := img.Bounds()
	var e float64
	n := 0
	p := func(x, y int) float64 { return float64(img.Pix[y*img.Stride+x]) }
	for y := 1; y < b.Dy()-1; y++ {
		for x := 1; x < b.Dx()-1; x++ {
			l := 4*p(x, y) - p(x-1, y) - p(x+1, y) - p(x, y-1) - p(x, y+1)
			e += l * l
			n++
		}
	}
	return e / float64(n)
}

// regionStats returns the mean and standard deviation of r in img.
func regionStats(img *image.Gray, r image.Rectangle) (mean, sd float64) {
	var s, s2 float64
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			v := float64(img.Pix[y*img.Stride+x])
			s += v
			s2 += v * v
			n++
		}
	}
	mean = s / float64(n)
	return mean, math.Sqrt(math.Max(s2/float64(n)-mean*mean, 0))
}

// darkFraction is the fraction of pixels below 128 in r.
func darkFraction(img *image.Gray, r image.Rectangle) float64 {
	n, d := 0, 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if img.Pix[y*img.Stride+x] < 128 {
				d++
			}
			n++
		}
	}
	return float64(d) / float64(n)
}

// correlation is the Pearson correlation of two images over r.
func correlation(a, b *image.Gray, r image.Rectangle) float64 {
	var sa, sb, saa, sbb, sab, n float64
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			u, v := float64(a.Pix[y*a.Stride+x]), float64(b.Pix[y*b.Stride+x])
			sa += u
			sb += v
			saa += u * u
			sbb += v * v
			sab += u * v
			n++
		}
	}
	cov := sab/n - sa*sb/n/n
	return cov / math.Sqrt((saa/n-sa*sa/n/n)*(sbb/n-sb*sb/n/n))
}

// fft computes an in-place radix-2 DFT (len(a) must be a power of two).
func fft(a []complex128) {
	n := len(a)
	for i, j := 1, 0; i < n; i++ {
		bit := n >> 1
		for ; j&bit != 0; bit >>= 1 {
			j ^= bit
		}
		j ^= bit
		if i < j {
			a[i], a[j] = a[j], a[i]
		}
	}
	for size := 2; size <= n; size <<= 1 {
		w := cmplx.Exp(complex(0, -2*math.Pi/float64(size)))
		for start := 0; start < n; start += size {
			wk := complex(1, 0)
			for k := 0; k < size/2; k++ {
				u, v := a[start+k], a[start+k+size/2]*wk
				a[start+k], a[start+k+size/2] = u+v, u-v
				wk *= w
			}
		}
	}
}

// dominantPeriod returns the ridge period (pixels) of the n x n window
// centred at c: the radius of the peak of the Hann-windowed 2-D power
// spectrum, averaged over rings, refined by a power-weighted centroid.
func dominantPeriod(img *image.Gray, c image.Point, n int) float64 {
	data := make([][]complex128, n)
	var mean float64
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			mean += float64(img.GrayAt(c.X-n/2+x, c.Y-n/2+y).Y)
		}
	}
	mean /= float64(n * n)
	for y := 0; y < n; y++ {
		data[y] = make([]complex128, n)
		wy := 0.5 - 0.5*math.Cos(2*math.Pi*float64(y)/float64(n-1))
		for x := 0; x < n; x++ {
			wx := 0.5 - 0.5*math.Cos(2*math.Pi*float64(x)/float64(n-1))
			v := float64(img.GrayAt(c.X-n/2+x, c.Y-n/2+y).Y) - mean
			data[y][x] = complex(v*wx*wy, 0)
		}
		fft(data[y])
	}
	col := make([]complex128, n)
	for x := 0; x < n; x++ {
		for y := 0; y < n; y++ {
			col[y] = data[y][x]
		}
		fft(col)
		for y := 0; y < n; y++ {
			data[y][x] = col[y]
		}
	}
	ring := make([]float64, n/2)
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			fx, fy := x, y
			if fx >= n/2 {
				fx -= n
			}
			if fy >= n/2 {
				fy -= n
			}
			r := int(math.Round(math.Hypot(float64(fx), float64(fy))))
			if r > 2 && r < n/2 {
				p := cmplx.Abs(data[y][x])
				ring[r] += p * p
			}
		}
	}
	best := 3
	for r := 3; r < n/2; r++ {
		if ring[r] > ring[best] {
			best = r
		}
	}
	var sw, swr float64
	for r := max(best-2, 3); r <= min(best+2, n/2-1); r++ {
		sw += ring[r]
		swr += ring[r] * float64(r)
	}
	return float64(n) / (swr / sw)
}

// orientationField estimates the doubled ridge angle 2*theta at every pixel
// from smoothed gradient moments (the usual least-squares estimate).
func orientationField(img *image.Gray, sigma float64) (phi []float64, w, h int) {
	b := img.Bounds()
	w, h = b.Dx(), b.Dy()
	gxx := make([]float32, w*h)
	gxy := make([]float32, w*h)
	p := func(x, y int) float64 { return float64(img.Pix[y*img.Stride+x]) }
	for y := 1; y < h-1; y++ {
		for x := 1; x < w-1; x++ {
			gx := (p(x+1, y-1) + 2*p(x+1, y) + p(x+1, y+1)) - (p(x-1, y-1) + 2*p(x-1, y) + p(x-1, y+1))
			gy := (p(x-1, y+1) + 2*p(x, y+1) + p(x+1, y+1)) - (p(x-1, y-1) + 2*p(x, y-1) + p(x+1, y-1))
			gxx[y*w+x] = float32(gx*gx - gy*gy)
			gxy[y*w+x] = float32(2 * gx * gy)
		}
	}
	gaussBlur(gxx, w, h, sigma)
	gaussBlur(gxy, w, h, sigma)
	phi = make([]float64, w*h)
	for i := range phi {
		phi[i] = math.Atan2(float64(gxy[i]), float64(gxx[i]))
	}
	return phi, w, h
}

// poincare returns the Poincare index of the orientation field around the
// circle of radius r centred at c (+0.5 core, -0.5 delta, +1 whorl centre,
// 0 no singularity), or ok=false when the circle leaves the image.
func poincare(phi []float64, w, h int, c image.Point, r float64) (index float64, ok bool) {
	const steps = 48
	var total float64
	prev := math.NaN()
	first := 0.0
	for k := 0; k <= steps; k++ {
		a := 2 * math.Pi * float64(k%steps) / steps
		x := int(math.Round(float64(c.X) + r*math.Cos(a)))
		y := int(math.Round(float64(c.Y) + r*math.Sin(a)))
		if x < 0 || y < 0 || x >= w || y >= h {
			return 0, false
		}
		v := phi[y*w+x]
		if k == 0 {
			first = v
		}
		if !math.IsNaN(prev) {
			d := v - prev
			for d > math.Pi {
				d -= 2 * math.Pi
			}
			for d <= -math.Pi {
				d += 2 * math.Pi
			}
			total += d
		}
		prev = v
	}
	_ = first
	return total / (4 * math.Pi), true
}
