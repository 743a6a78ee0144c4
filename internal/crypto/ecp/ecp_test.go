package ecp

import (
	"crypto/ecdh"
	"crypto/rand"
	"math/big"
	"testing"
)

func TestBaseOrder(t *testing.T) {
	for _, c := range []*Curve{P256(), BrainpoolP256r1()} {
		if !c.IsOnCurve(c.G()) {
			t.Fatalf("%s: G not on curve", c.Name)
		}
		if r := c.ScalarMult(c.G(), c.N); !r.Infinity() {
			t.Fatalf("%s: N·G is not infinity", c.Name)
		}
		nm1 := new(big.Int).Sub(c.N, big.NewInt(1))
		if r := c.ScalarMult(c.G(), nm1); r.Infinity() || r.X.Cmp(c.Gx) != 0 {
			t.Fatalf("%s: (N-1)·G is not -G", c.Name)
		}
	}
}

// P-256 against the standard library's ECDH: k·(j·G) must equal stdlib's.
func TestP256MatchesStdlib(t *testing.T) {
	c := P256()
	k, _ := ecdh.P256().GenerateKey(rand.Reader)
	pub := k.PublicKey().Bytes()
	p, err := c.Unmarshal(pub)
	if err != nil {
		t.Fatal(err)
	}
	mine := c.Marshal(c.ScalarMult(c.G(), new(big.Int).SetBytes(k.Bytes())))
	if string(mine) != string(pub) {
		t.Fatalf("scalar mult differs from crypto/ecdh")
	}
	k2, _ := ecdh.P256().GenerateKey(rand.Reader)
	shared, _ := k2.ECDH(k.PublicKey())
	s := c.ScalarMult(p, new(big.Int).SetBytes(k2.Bytes()))
	if got := s.X.FillBytes(make([]byte, 32)); string(got) != string(shared) {
		t.Fatalf("ECDH differs from crypto/ecdh")
	}
}

func TestAddDoubleConsistent(t *testing.T) {
	c := BrainpoolP256r1()
	g := c.G()
	three := c.Add(c.Double(g), g)
	if want := c.ScalarMult(g, big.NewInt(3)); want.X.Cmp(three.X) != 0 || want.Y.Cmp(three.Y) != 0 {
		t.Fatal("2G+G != 3G")
	}
	if _, err := c.Unmarshal(append([]byte{4}, make([]byte, 64)...)); err == nil {
		t.Fatal("(0,0) accepted")
	}
}

func BenchmarkScalarMultBrainpool(b *testing.B) {
	c := BrainpoolP256r1()
	k, _ := rand.Int(rand.Reader, c.N)
	for b.Loop() {
		c.ScalarMult(c.G(), k)
	}
}
