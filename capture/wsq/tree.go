package wsq

// This file holds the geometry of the WSQ decomposition (spec Part 1 §A.2,
// Figures A.1 and A.2): which rectangles of the coefficient plane are split
// by the filter bank, in what order, and where each of the 64 subbands ends
// up.

// rect is a region of the coefficient plane.
type rect struct{ x, y, w, h int }

// numSubbands is how many subbands carry data; subbands 60-63 (the finest
// diagonal band) are always discarded (spec Part 1 §A.2).
const numSubbands = 60

// totalSubbands is the number of subbands the DQT describes.
const totalSubbands = 64

// Block boundaries: the coefficient stream is split into three blocks
// (subbands 0-18, 19-51, 52-59) by the reference encoder (spec Part 3).
const (
	block2Start = 19
	block3Start = 52
)

// halves splits a line of n samples into the two output runs of one
// analysis step. The lowpass run always gets the extra sample of an odd
// line (it is centred on the even positions 0, 2, ...). A region that is
// the highpass child of its parent along this axis is spectrally inverted:
// its own split stores the highpass run first (spec §A.2, the "inverted"
// splits of Figure A.1), so the plane stays in frequency order.
func halves(n int, inverted bool) (first, second int) {
	lo, hi := (n+1)/2, n/2
	if inverted {
		return hi, lo
	}
	return lo, hi
}

// quadrants returns the four children of splitting r, in the order
// top-left, top-right, bottom-left, bottom-right.
func quadrants(r rect, invX, invY bool) [4]rect {
	w0, w1 := halves(r.w, invX)
	h0, h1 := halves(r.h, invY)
	return [4]rect{
		{r.x, r.y, w0, h0},
		{r.x + w0, r.y, w1, h0},
		{r.x, r.y + h0, w0, h1},
		{r.x + w0, r.y + h0, w1, h1},
	}
}

// splitNode is one of the 20 regions the filter bank splits. A node that
// is the right (bottom) child of its parent is inverted along x (y).
type splitNode struct {
	r          rect
	invX, invY bool
}

// nodeParent gives, for each of the 20 split nodes in processing order,
// its parent node and which quadrant of the parent it is (0 TL, 1 TR,
// 2 BL, 3 BR). Node 0 is the whole image. The order is the order of the
// analysis; synthesis runs it backwards.
var nodeParent = [20]struct{ parent, quad int }{
	{-1, 0},                // 0: the image
	{0, 0}, {0, 1}, {0, 2}, // 1-3: first level LL, HL, LH
	{1, 1}, {1, 2}, // 4, 5: second level bands of LL
	{4, 0}, {4, 1}, {4, 2}, {4, 3}, // 6-9
	{5, 0}, {5, 1}, {5, 2}, {5, 3}, // 10-13
	{1, 0},                             // 14: second level LL
	{14, 0}, {14, 1}, {14, 2}, {14, 3}, // 15-18
	{15, 0}, // 19: the lowest band, split into 0-3
}

// subbandOf maps subband number k (0-59) to the node whose split produces
// it and the quadrant of that split, following spec Figure A.2.
var subbandOf = func() [numSubbands]struct{ node, quad int } {
	var s [numSubbands]struct{ node, quad int }
	k := 0
	add := func(node int, quads ...int) {
		for _, q := range quads {
			s[k].node, s[k].quad = node, q
			k++
		}
	}
	add(19, 0, 1, 2, 3)
	add(15, 1, 2, 3)
	for n := 16; n <= 18; n++ {
		add(n, 0, 1, 2, 3)
	}
	for n := 6; n <= 13; n++ {
		add(n, 0, 1, 2, 3)
	}
	add(1, 3)
	add(2, 0, 1, 2, 3)
	add(3, 0, 1, 2, 3)
	if k != numSubbands {
		panic("wsq: subband table incomplete")
	}
	return s
}()

// geometry is the decomposition of one image size.
type geometry struct {
	width, height int
	nodes         [20]splitNode
	bands         [numSubbands]rect
}

func newGeometry(width, height int) *geometry {
	g := &geometry{width: width, height: height}
	g.nodes[0] = splitNode{r: rect{0, 0, width, height}}
	for i := 1; i < len(nodeParent); i++ {
		p := g.nodes[nodeParent[i].parent]
		q := nodeParent[i].quad
		g.nodes[i] = splitNode{
			r:    quadrants(p.r, p.invX, p.invY)[q],
			invX: q&1 != 0,
			invY: q&2 != 0,
		}
	}
	for k, sb := range subbandOf {
		n := g.nodes[sb.node]
		g.bands[k] = quadrants(n.r, n.invX, n.invY)[sb.quad]
	}
	return g
}
