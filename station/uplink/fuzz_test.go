package uplink

import (
	"bytes"
	"crypto/ed25519"
	"testing"
	"time"
)

// FuzzDecodeStationMessage feeds central's decoders (control text and chunk
// frames) arbitrary bytes: they must return a message or an error, never
// panic, and what they accept must satisfy the limits.
func FuzzDecodeStationMessage(f *testing.F) {
	id := PacketID([]byte("seed"))
	f.Add([]byte(`{"type":"hello","station":"booth-01","version":1,"token":"`+string(bytes.Repeat([]byte("A"), 86))+`=="}`), false)
	f.Add([]byte(`{"type":"offer","id":"`+id+`","size":1234}`), false)
	f.Add([]byte(`{"type":"commit","id":"`+id+`"}`), false)
	f.Add([]byte(`{"type":"offer","id":"`+id+`","size":-1}`), false)
	f.Add([]byte(`{"type":"offer","id":"`+id+`","size":1,"x":2}`), false)
	f.Add([]byte(`{"type":"hello"} {}`), false)
	f.Add([]byte(`[]`), false)
	ch, _ := EncodeChunk(nil, id, 65536, []byte("payload"))
	f.Add(ch, true)
	f.Add(ch[:chunkHeaderLen], true)
	f.Add([]byte{0x02}, true)
	f.Fuzz(func(t *testing.T, data []byte, binary bool) {
		if binary {
			c, err := DecodeChunk(data)
			if err != nil {
				return
			}
			if validID(c.ID) != nil || c.Offset < 0 || c.Offset >= MaxPacketSize || len(c.Data) == 0 || len(c.Data) > MaxChunkData {
				t.Fatalf("accepted an out-of-limit chunk: id %q offset %d len %d", c.ID, c.Offset, len(c.Data))
			}
			re, err := EncodeChunk(nil, c.ID, c.Offset, c.Data)
			if err != nil || !bytes.Equal(re, data) {
				t.Fatalf("chunk does not round-trip: %v", err)
			}
			return
		}
		m, err := DecodeStationMessage(data)
		if err != nil {
			return
		}
		switch m.Type {
		case TypeHello:
			if ValidStationID(m.Station) != nil || m.Version <= 0 {
				t.Fatalf("accepted bad hello %+v", m)
			}
		case TypeOffer:
			if validID(m.ID) != nil || m.Size <= 0 || m.Size > MaxPacketSize {
				t.Fatalf("accepted bad offer %+v", m)
			}
		case TypeCommit:
			if validID(m.ID) != nil {
				t.Fatalf("accepted bad commit %+v", m)
			}
		default:
			t.Fatalf("accepted type %q from a station", m.Type)
		}
	})
}

// FuzzDecodeCentralMessage feeds the station's decoder arbitrary bytes.
func FuzzDecodeCentralMessage(f *testing.F) {
	id := PacketID([]byte("seed"))
	_, key, _ := ed25519.GenerateKey(nil)
	r := SignReceipt(key, id, 10, time.Unix(1700000000, 0))
	f.Add(encode(&Msg{Type: TypeReceipt, ID: id, Receipt: r}))
	f.Add(encode(&Msg{Type: TypeChallenge, Version: 1, Nonce: make([]byte, nonceLen)}))
	f.Add(encode(&Msg{Type: TypeWelcome, Station: "b", MaxChunk: MaxChunkData, Window: 32}))
	f.Add(encode(&Msg{Type: TypeOffset, ID: id, Have: 5}))
	f.Add(encode(&Msg{Type: TypeError, ID: id, Code: CodeRejected, Message: "no"}))
	f.Add([]byte(`{"type":"receipt","id":"` + id + `","receipt":null}`))
	f.Add([]byte(`{"type":"offset","id":"` + id + `","have":1e30}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeCentralMessage(data)
		if err != nil {
			return
		}
		switch m.Type {
		case TypeReceipt:
			if m.Receipt == nil || validID(m.ID) != nil {
				t.Fatalf("accepted bad receipt message %+v", m)
			}
			// Verification of arbitrary receipts must not panic either.
			VerifyReceipt(m.Receipt, m.ID, 10, []ed25519.PublicKey{key.Public().(ed25519.PublicKey)})
		case TypeOffset:
			if m.Have < 0 || m.Have > MaxPacketSize {
				t.Fatalf("accepted offset %d", m.Have)
			}
		case TypeChallenge:
			if len(m.Nonce) != nonceLen {
				t.Fatal("accepted a short nonce")
			}
		case TypeWelcome, TypeError:
		default:
			t.Fatalf("accepted type %q from central", m.Type)
		}
	})
}
