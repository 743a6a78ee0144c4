package icao

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/openenroll/stationd/devices/smartcard/apdu"
)

// Known-answer tests from the worked examples of ICAO Doc 9303 part 11,
// Appendix D (BAC key derivation D.2, authentication D.3, secure messaging
// D.4). The document is L898902C<, born 690806, expiring 940623.

func h(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func eq(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if hex.EncodeToString(got) != hex.EncodeToString(want) {
		t.Fatalf("%s:\n got %X\nwant %X", what, got, want)
	}
}

var appD = MRZKey{DocumentNumber: "L898902C<", BirthDate: "690806", ExpiryDate: "940623"}

func TestKATCheckDigitAndMRZInformation(t *testing.T) {
	info, err := appD.information()
	if err != nil {
		t.Fatal(err)
	}
	if info != "L898902C<369080619406236" {
		t.Fatalf("MRZ_information %q", info)
	}
	// D.2, second example: a 12-character document number.
	k2 := MRZKey{DocumentNumber: "D23145890734", BirthDate: "340712", ExpiryDate: "950712"}
	if info, _ := k2.information(); info != "D23145890734934071279507122" {
		t.Fatalf("long document number MRZ_information %q", info)
	}
	if _, err := (MRZKey{DocumentNumber: "AB-1", BirthDate: "690806", ExpiryDate: "940623"}).information(); err == nil {
		t.Fatal("'-' accepted in document number")
	}
}

func TestKATBACKeyDerivation(t *testing.T) {
	seed, err := appD.bacSeed()
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "K_seed", seed, h("239AB9CB282DAF66231DC5A4DF6BFBAE"))
	eq(t, "K_Enc", deriveKey(seed, kdfEnc, alg3DES), h("AB94FDECF2674FDFB9B391F85D7F76F2"))
	eq(t, "K_MAC", deriveKey(seed, kdfMAC, alg3DES), h("7962D9ECE03D1ACD4C76089DCE131543"))
}

func TestKATMutualAuthentication(t *testing.T) {
	kEnc, kMAC := h("AB94FDECF2674FDFB9B391F85D7F76F2"), h("7962D9ECE03D1ACD4C76089DCE131543")
	rndIC, rndIFD, kIFD := h("4608F91988702212"), h("781723860C06C226"), h("0B795240CB7049B01C19B33E32804F0B")
	eq(t, "E_IFD||M_IFD", bacCommandData(kEnc, kMAC, rndIFD, rndIC, kIFD),
		h("72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F2 5F1448EEA8AD90A7"))
	// MAC algorithm 3 alone on the padded E_IFD.
	eq(t, "retail MAC", retailMAC(kMAC, pad(h("72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F2"), 8)), h("5F1448EEA8AD90A7"))
	sm, err := bacFinish(kEnc, kMAC, rndIFD, rndIC, kIFD,
		h("46B9342A41396CD7386BF5803104D7CEDC122B9132139BAF2EEDC94EE178534F 2F2D235D074D7449"))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "KS_Enc", sm.kEnc, h("979EC13B1CBFE9DCD01AB0FED307EAE5"))
	eq(t, "KS_MAC", sm.kMAC, h("F1CB1F1FB5ADF208806B89DC579DC1F8"))
	eq(t, "SSC", sm.ssc, h("887022120C06C226"))
	// A flipped bit in M_IC must be refused.
	if _, err := bacFinish(kEnc, kMAC, rndIFD, rndIC, kIFD,
		h("46B9342A41396CD7386BF5803104D7CEDC122B9132139BAF2EEDC94EE178534F 2F2D235D074D7448")); err == nil {
		t.Fatal("wrong M_IC accepted")
	}
}

func TestKATSecureMessaging(t *testing.T) {
	sm := NewSM3DES(h("979EC13B1CBFE9DCD01AB0FED307EAE5"), h("F1CB1F1FB5ADF208806B89DC579DC1F8"), h("887022120C06C226"))
	step := func(c apdu.Command, wantCmd, rsp string) apdu.Response {
		t.Helper()
		w, err := sm.Wrap(c)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := w.Encode()
		eq(t, "protected command", raw, h(wantCmd))
		r, _ := apdu.ParseResponse(h(rsp))
		plain, err := sm.Unwrap(r)
		if err != nil {
			t.Fatal(err)
		}
		return plain
	}
	// D.4.1 SELECT EF.COM.
	r := step(apdu.Command{INS: 0xA4, P1: 2, P2: 0x0C, Data: h("011E")},
		"0CA4020C158709016375432908C044F68E08BF8B92D635FF24F800", "990290008E08FA855A5D4C50A8ED9000")
	if r.SW != 0x9000 || len(r.Data) != 0 {
		t.Fatalf("SELECT response %+v", r)
	}
	// D.4.2 READ BINARY of the first four bytes.
	r = step(apdu.Command{INS: 0xB0, Ne: 4},
		"0CB000000D9701048E08ED6705417E96BA5500", "8709019FF0EC34F9922651990290008E08AD55CC17140B2DED9000")
	eq(t, "EF.COM first bytes", r.Data, h("60145F01"))
	// D.4.3 READ BINARY of the remaining 18 bytes from offset 4.
	r = step(apdu.Command{INS: 0xB0, P2: 4, Ne: 0x12},
		"0CB000040D9701128E082EA28A70F3C7B53500", "871901FB9235F4E4037F2327DCC8964F1F9B8C30F42C8E2FFF224A990290008E08C8B2787EAEA07D749000")
	eq(t, "EF.COM rest", r.Data, h("04303130365F36063034303030305C026175"))
	// Replaying the last response (stale SSC) must fail the MAC.
	rr, _ := apdu.ParseResponse(h("871901FB9235F4E4037F2327DCC8964F1F9B8C30F42C8E2FFF224A990290008E08C8B2787EAEA07D749000"))
	if _, err := sm.Unwrap(rr); err == nil {
		t.Fatal("replayed response accepted")
	}
}

// AES-CMAC against NIST SP 800-38B / RFC 4493 examples.
func TestKATCMAC(t *testing.T) {
	key := h("2b7e151628aed2a6abf7158809cf4f3c")
	eq(t, "empty", cmac(key, nil), h("bb1d6929e95937287fa37d129b756746"))
	eq(t, "16 bytes", cmac(key, h("6bc1bee22e409f96e93d7e117393172a")), h("070a16b46b4d4144f79bdd9dd04a287c"))
	eq(t, "40 bytes", cmac(key, h("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411")), h("dfa66747de9ae63030ca32611497c827"))
}

// FuzzSMResponse feeds arbitrary protected responses to the decoder and to
// Unwrap (with the Appendix D keys): never a panic, and never a response
// accepted without a valid MAC.
func FuzzSMResponse(f *testing.F) {
	f.Add(h("990290008E08FA855A5D4C50A8ED"), uint16(0x9000))
	f.Add(h("8709019FF0EC34F9922651990290008E08AD55CC17140B2DED"), uint16(0x9000))
	f.Add(h("87819901"), uint16(0x9000))
	f.Add([]byte{}, uint16(0x6988))
	f.Fuzz(func(t *testing.T, body []byte, sw uint16) {
		DecodeSMResponse(body)
		sm := NewSM3DES(h("979EC13B1CBFE9DCD01AB0FED307EAE5"), h("F1CB1F1FB5ADF208806B89DC579DC1F8"), h("887022120C06C227"))
		r, err := sm.Unwrap(apdu.Response{Data: body, SW: sw})
		if err == nil && len(body) > 0 && string(body) != string(h("990290008E08FA855A5D4C50A8ED")) {
			// Only the genuine response (SSC ...C228) verifies.
			t.Fatalf("accepted forged response %X -> %+v", body, r)
		}
	})
}
