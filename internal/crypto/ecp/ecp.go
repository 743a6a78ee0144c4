// Package ecp is plain elliptic-curve arithmetic over prime fields
// (short Weierstrass y² = x³ + ax + b), written with math/big because the
// standard library's crypto/ecdh offers neither brainpool curves nor the
// point addition that PACE generic mapping needs (ICAO 9303 p11 §4.4.3.3.1).
//
// It is a neutral primitive shared by the reader (devices/smartcard/icao)
// and the simulated chip (firmware-sim/card): only curve math lives here;
// each side implements the PACE protocol itself. It is not constant-time
// and is meant for a booth talking to a card, not for guarding long-term
// secrets against a local timing attacker.
package ecp

import (
	"crypto/elliptic"
	"errors"
	"fmt"
	"math/big"
)

// Curve is a short Weierstrass curve over GF(P) with base point G of prime
// order N and cofactor H.
type Curve struct {
	Name      string
	P, A, B   *big.Int
	Gx, Gy, N *big.Int
	H         int
	ByteLen   int
}

// Point is an affine point; X == nil is the point at infinity.
type Point struct{ X, Y *big.Int }

// Infinity reports whether p is the neutral element.
func (p Point) Infinity() bool { return p.X == nil }

func hexInt(s string) *big.Int {
	v, ok := new(big.Int).SetString(s, 16)
	if !ok {
		panic("ecp: bad constant " + s)
	}
	return v
}

var (
	p256      *Curve
	brainpool *Curve
)

func init() {
	sp := elliptic.P256().Params()
	p256 = &Curve{Name: "P-256", P: sp.P, A: new(big.Int).Sub(sp.P, big.NewInt(3)), B: sp.B,
		Gx: sp.Gx, Gy: sp.Gy, N: sp.N, H: 1, ByteLen: 32}
	// RFC 5639 §3.4, brainpoolP256r1.
	brainpool = &Curve{Name: "brainpoolP256r1",
		P:  hexInt("A9FB57DBA1EEA9BC3E660A909D838D726E3BF623D52620282013481D1F6E5377"),
		A:  hexInt("7D5A0975FC2C3057EEF67530417AFFE7FB8055C126DC5C6CE94A4B44F330B5D9"),
		B:  hexInt("26DC5C6CE94A4B44F330B5D9BBD77CBF958416295CF7E1CE6BCCDC18FF8C07B6"),
		Gx: hexInt("8BD2AEB9CB7E57CB2C4B482FFC81B7AFB9DE27E1E3BD23C23A4453BD9ACE3262"),
		Gy: hexInt("547EF835C3DAC4FD97F8461A14611DC9C27745132DED8E545C1D54C72F046997"),
		N:  hexInt("A9FB57DBA1EEA9BC3E660A909D838D718C397AA3B561A6F7901E0E82974856A7"),
		H:  1, ByteLen: 32}
}

// P256 is NIST P-256 (secp256r1).
func P256() *Curve { return p256 }

// BrainpoolP256r1 is the RFC 5639 curve.
func BrainpoolP256r1() *Curve { return brainpool }

// G returns the base point.
func (c *Curve) G() Point { return Point{new(big.Int).Set(c.Gx), new(big.Int).Set(c.Gy)} }

// IsOnCurve reports whether p satisfies the curve equation (infinity does).
func (c *Curve) IsOnCurve(p Point) bool {
	if p.Infinity() {
		return true
	}
	if p.X.Sign() < 0 || p.X.Cmp(c.P) >= 0 || p.Y.Sign() < 0 || p.Y.Cmp(c.P) >= 0 {
		return false
	}
	y2 := new(big.Int).Mul(p.Y, p.Y)
	y2.Mod(y2, c.P)
	r := new(big.Int).Mul(p.X, p.X)
	r.Add(r, c.A)
	r.Mul(r, p.X)
	r.Add(r, c.B)
	r.Mod(r, c.P)
	return r.Cmp(y2) == 0
}

// Add returns p + q.
func (c *Curve) Add(p, q Point) Point {
	if p.Infinity() {
		return q
	}
	if q.Infinity() {
		return p
	}
	var lambda *big.Int
	if p.X.Cmp(q.X) == 0 {
		sum := new(big.Int).Add(p.Y, q.Y)
		if sum.Mod(sum, c.P).Sign() == 0 {
			return Point{}
		}
		return c.Double(p)
	}
	num := new(big.Int).Sub(q.Y, p.Y)
	den := new(big.Int).Sub(q.X, p.X)
	den.Mod(den, c.P)
	den.ModInverse(den, c.P)
	lambda = num.Mul(num, den)
	lambda.Mod(lambda, c.P)
	return c.finish(lambda, p, q.X)
}

// Double returns 2p.
func (c *Curve) Double(p Point) Point {
	if p.Infinity() || p.Y.Sign() == 0 {
		return Point{}
	}
	num := new(big.Int).Mul(p.X, p.X)
	num.Mul(num, big.NewInt(3))
	num.Add(num, c.A)
	den := new(big.Int).Lsh(p.Y, 1)
	den.Mod(den, c.P)
	den.ModInverse(den, c.P)
	num.Mul(num, den)
	num.Mod(num, c.P)
	return c.finish(num, p, p.X)
}

// finish computes the sum given the slope: x3 = λ² - x1 - x2, y3 = λ(x1 - x3) - y1.
func (c *Curve) finish(lambda *big.Int, p Point, x2 *big.Int) Point {
	x3 := new(big.Int).Mul(lambda, lambda)
	x3.Sub(x3, p.X)
	x3.Sub(x3, x2)
	x3.Mod(x3, c.P)
	y3 := new(big.Int).Sub(p.X, x3)
	y3.Mul(y3, lambda)
	y3.Sub(y3, p.Y)
	y3.Mod(y3, c.P)
	return Point{x3, y3}
}

// ScalarMult returns k·p (double-and-add, most significant bit first).
func (c *Curve) ScalarMult(p Point, k *big.Int) Point {
	r := Point{}
	for i := k.BitLen() - 1; i >= 0; i-- {
		r = c.Double(r)
		if k.Bit(i) == 1 {
			r = c.Add(r, p)
		}
	}
	return r
}

// Marshal encodes p uncompressed: 04 || X || Y (SEC 1 §2.3.3).
func (c *Curve) Marshal(p Point) []byte {
	out := make([]byte, 1+2*c.ByteLen)
	out[0] = 4
	p.X.FillBytes(out[1 : 1+c.ByteLen])
	p.Y.FillBytes(out[1+c.ByteLen:])
	return out
}

// Unmarshal decodes an uncompressed point and checks it lies on the curve
// and is not the point at infinity.
func (c *Curve) Unmarshal(b []byte) (Point, error) {
	if len(b) != 1+2*c.ByteLen || b[0] != 4 {
		return Point{}, fmt.Errorf("ecp: %s point must be 04||X||Y of %d bytes, got %d bytes", c.Name, 1+2*c.ByteLen, len(b))
	}
	p := Point{new(big.Int).SetBytes(b[1 : 1+c.ByteLen]), new(big.Int).SetBytes(b[1+c.ByteLen:])}
	if !c.IsOnCurve(p) {
		return Point{}, errors.New("ecp: point is not on " + c.Name)
	}
	return p, nil
}
