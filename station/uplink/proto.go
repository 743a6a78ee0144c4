// Package uplink moves finalized packets from the station's outbox to the
// central system over a websocket, and holds the central side of the same
// protocol (Server, Store) that cmd/central runs.
//
// The protocol (docs/uplink.md has the full description):
//
//	central → station  challenge {nonce}
//	station → central  hello     {station, version, token = ed25519(nonce, station)}
//	central → station  welcome
//	station → central  offer     {id = hex SHA-256 of the packet, size}
//	central → station  offset    {id, have}           (or receipt, if it holds the packet already)
//	station → central  chunk     binary frame: kind, id, offset, bytes   (from "have" on)
//	station → central  commit    {id}
//	central → station  receipt   {id, size, time, ed25519 signature}  (or error)
//
// Control messages are JSON text frames; chunks are binary frames. Several
// packets may be in flight on one connection. A cut connection loses nothing:
// central keeps partial uploads on disk and the next offer resumes from the
// byte central already has, so no byte central has reported holding is ever
// sent again. A packet counts as delivered only when the station holds a
// receipt whose signature verifies under central's public key.
package uplink

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ProtocolVersion is the version this package speaks; hello carries it and
// central refuses other versions with error code "version".
const ProtocolVersion = 1

// Size limits. Every decoder enforces them before allocating.
const (
	// MaxControlMessage bounds a JSON control frame. The largest, a receipt,
	// is about 400 bytes; 4 KiB leaves room for error texts.
	MaxControlMessage = 4 << 10
	// MaxChunkData bounds the payload of one chunk frame. 256 KiB keeps one
	// frame's memory small while making the 41-byte header negligible.
	MaxChunkData = 256 << 10
	// DefaultChunkData is the chunk payload the client sends unless configured:
	// large enough for ~0.1% framing overhead, small enough that a cut loses
	// little and that chunks of several packets interleave finely.
	DefaultChunkData = 64 << 10
	// MaxPacketSize bounds an offered packet. A face and ten lossless
	// fingers make a few MB; 64 MiB refuses absurd offers that would fill
	// central's disk and its memory (central hashes a packet in memory).
	MaxPacketSize = 64 << 20
	// chunkHeaderLen is kind(1) + packet id (32, raw SHA-256) + offset (8).
	chunkHeaderLen = 1 + 32 + 8
	// MaxChunkFrame is the largest binary frame central accepts (its read limit).
	MaxChunkFrame = chunkHeaderLen + MaxChunkData
	// maxStationID bounds the station id's length.
	maxStationID = 64
	// nonceLen is the challenge's size: 32 random bytes cannot repeat.
	nonceLen = 32
)

// chunkKind is the first byte of a chunk frame; other values are reserved.
const chunkKind = 0x01

// Message types.
const (
	TypeChallenge = "challenge"
	TypeHello     = "hello"
	TypeWelcome   = "welcome"
	TypeOffer     = "offer"
	TypeOffset    = "offset"
	TypeCommit    = "commit"
	TypeReceipt   = "receipt"
	TypeError     = "error"
)

// Error codes central sends in error messages.
const (
	CodeBadMessage   = "bad_message"   // undecodable or out-of-limit message; connection closed
	CodeVersion      = "version"       // protocol version not supported; connection closed
	CodeAuth         = "auth"          // station not authenticated; connection closed
	CodeOffset       = "offset"        // chunk at the wrong offset; re-offer to learn the right one
	CodeHashMismatch = "hash_mismatch" // committed bytes do not hash to the id; central dropped them
	CodeRejected     = "rejected"      // central refuses this packet for good (e.g. bad signature)
	CodeBusy         = "busy"          // too many packets in flight on this connection
	CodeInternal     = "internal"      // central failed (disk, ...); try again later
)

// Msg is any JSON control message. Fields unused by a type stay empty.
type Msg struct {
	Type     string   `json:"type"`
	Version  int      `json:"version,omitempty"`   // challenge, hello
	Nonce    []byte   `json:"nonce,omitempty"`     // challenge (base64)
	Station  string   `json:"station,omitempty"`   // hello, welcome
	Token    []byte   `json:"token,omitempty"`     // hello (base64 ed25519 signature)
	MaxChunk int      `json:"max_chunk,omitempty"` // welcome
	Window   int      `json:"window,omitempty"`    // welcome: packets in flight central allows
	ID       string   `json:"id,omitempty"`        // offer, offset, commit, receipt, error
	Size     int64    `json:"size,omitempty"`      // offer
	Have     int64    `json:"have,omitempty"`      // offset
	Receipt  *Receipt `json:"receipt,omitempty"`   // receipt
	Code     string   `json:"code,omitempty"`      // error
	Message  string   `json:"message,omitempty"`   // error
}

// Chunk is a decoded binary chunk frame.
type Chunk struct {
	ID     string // hex packet id
	Offset int64
	Data   []byte // aliases the frame
}

// Receipt is central's signed statement that it holds a packet.
type Receipt struct {
	PacketID string `json:"packet_id"`
	Size     int64  `json:"size"`
	// Received is when central first stored the packet, Unix nanoseconds.
	Received int64 `json:"received_unix_ns"`
	// KeyID names the signing key (first 8 bytes of SHA-256 of the public key, hex).
	KeyID string `json:"key_id"`
	Sig   []byte `json:"sig"` // ed25519 over SignedBytes
}

// Time returns Received as a time.
func (r *Receipt) Time() time.Time { return time.Unix(0, r.Received) }

const (
	receiptContext = "openenroll-uplink-receipt-v1"
	helloContext   = "openenroll-uplink-hello-v1"
)

// SignedBytes is what the receipt signature covers: a context string, the
// packet id, its size and the time, NUL-separated.
func (r *Receipt) SignedBytes() []byte {
	var b bytes.Buffer
	b.WriteString(receiptContext)
	b.WriteByte(0)
	b.WriteString(r.PacketID)
	b.WriteByte(0)
	b.WriteString(strconv.FormatInt(r.Size, 10))
	b.WriteByte(0)
	b.WriteString(strconv.FormatInt(r.Received, 10))
	return b.Bytes()
}

// SignReceipt makes a receipt for a packet.
func SignReceipt(key ed25519.PrivateKey, id string, size int64, at time.Time) *Receipt {
	r := &Receipt{PacketID: id, Size: size, Received: at.UnixNano(), KeyID: KeyID(key.Public().(ed25519.PublicKey))}
	r.Sig = ed25519.Sign(key, r.SignedBytes())
	return r
}

// ErrBadReceipt means a receipt did not verify; the packet stays queued.
var ErrBadReceipt = errors.New("uplink: receipt does not verify under any configured central key (check central_public_key in the station config)")

// VerifyReceipt checks a receipt for packet id of size bytes against the
// central keys (several during a key rotation).
func VerifyReceipt(r *Receipt, id string, size int64, keys []ed25519.PublicKey) error {
	if r == nil {
		return fmt.Errorf("%w: missing", ErrBadReceipt)
	}
	if r.PacketID != id || r.Size != size {
		return fmt.Errorf("%w: it is for packet %.12s of %d bytes, not %.12s of %d", ErrBadReceipt, r.PacketID, r.Size, id, size)
	}
	for _, k := range keys {
		if len(k) == ed25519.PublicKeySize && ed25519.Verify(k, r.SignedBytes(), r.Sig) {
			return nil
		}
	}
	return ErrBadReceipt
}

// KeyID is a short name for a public key.
func KeyID(pub ed25519.PublicKey) string {
	s := sha256.Sum256(pub)
	return hex.EncodeToString(s[:8])
}

// helloBytes is what the hello token signs: the context, central's nonce and
// the station id, so a token is good for one connection only.
func helloBytes(nonce []byte, station string) []byte {
	b := append([]byte(helloContext), 0)
	b = append(b, nonce...)
	b = append(b, 0)
	return append(b, station...)
}

// HelloToken signs central's challenge nonce with the station key.
func HelloToken(key ed25519.PrivateKey, nonce []byte, station string) []byte {
	return ed25519.Sign(key, helloBytes(nonce, station))
}

// PacketID is the hex SHA-256 of a packet: its id on the wire and in the outbox.
func PacketID(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// EncodeChunk builds a chunk frame.
func EncodeChunk(dst []byte, id string, off int64, data []byte) ([]byte, error) {
	raw, err := hex.DecodeString(id)
	if err != nil || len(raw) != 32 {
		return nil, fmt.Errorf("uplink: packet id %q is not 64 hex digits", id)
	}
	dst = append(dst[:0], chunkKind)
	dst = append(dst, raw...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(off))
	return append(dst, data...), nil
}

// DecodeChunk parses a binary chunk frame (central side).
func DecodeChunk(frame []byte) (Chunk, error) {
	if len(frame) < chunkHeaderLen+1 {
		return Chunk{}, fmt.Errorf("chunk frame of %d bytes is shorter than its %d-byte header plus data", len(frame), chunkHeaderLen)
	}
	if len(frame) > MaxChunkFrame {
		return Chunk{}, fmt.Errorf("chunk frame of %d bytes exceeds the limit of %d", len(frame), MaxChunkFrame)
	}
	if frame[0] != chunkKind {
		return Chunk{}, fmt.Errorf("binary frame kind 0x%02x at byte 0 is not a chunk (0x%02x)", frame[0], chunkKind)
	}
	off := binary.BigEndian.Uint64(frame[33:41])
	if off >= MaxPacketSize {
		return Chunk{}, fmt.Errorf("chunk offset %d (bytes 33-40) is beyond the largest packet (%d)", off, MaxPacketSize)
	}
	return Chunk{ID: hex.EncodeToString(frame[1:33]), Offset: int64(off), Data: frame[chunkHeaderLen:]}, nil
}

// decodeStrict decodes one JSON object with no unknown fields and nothing after it.
func decodeStrict(data []byte, m *Msg) error {
	if len(data) > MaxControlMessage {
		return fmt.Errorf("control message of %d bytes exceeds the limit of %d", len(data), MaxControlMessage)
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(m); err != nil {
		return fmt.Errorf("control message is not valid JSON: %w", err)
	}
	if d.More() {
		return errors.New("control message has data after the JSON object")
	}
	return nil
}

func validID(id string) error {
	if len(id) != 64 {
		return fmt.Errorf("packet id %.70q is not 64 hex digits", id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return fmt.Errorf("packet id has %q at position %d; want lowercase hex", c, i)
		}
	}
	return nil
}

// ValidStationID checks a station id: 1-64 of A-Z a-z 0-9 . _ -
func ValidStationID(s string) error {
	if len(s) == 0 || len(s) > maxStationID {
		return fmt.Errorf("station id of %d bytes; want 1-%d", len(s), maxStationID)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("station id has %q at position %d; allowed are letters, digits, '.', '_', '-'", c, i)
		}
	}
	return nil
}

func validSize(n int64) error {
	if n <= 0 || n > MaxPacketSize {
		return fmt.Errorf("packet size %d is outside 1-%d", n, MaxPacketSize)
	}
	return nil
}

// DecodeStationMessage parses a control message sent by a station (central
// side) and checks each field for its type.
func DecodeStationMessage(data []byte) (Msg, error) {
	var m Msg
	if err := decodeStrict(data, &m); err != nil {
		return Msg{}, err
	}
	var err error
	switch m.Type {
	case TypeHello:
		if err = ValidStationID(m.Station); err == nil && m.Version <= 0 {
			err = fmt.Errorf("hello has version %d", m.Version)
		}
		if err == nil && len(m.Token) != 0 && len(m.Token) != ed25519.SignatureSize {
			err = fmt.Errorf("hello token of %d bytes; an ed25519 signature has %d", len(m.Token), ed25519.SignatureSize)
		}
	case TypeOffer:
		if err = validID(m.ID); err == nil {
			err = validSize(m.Size)
		}
	case TypeCommit:
		err = validID(m.ID)
	default:
		err = fmt.Errorf("message type %.20q is not one a station sends", m.Type)
	}
	if err != nil {
		return Msg{}, fmt.Errorf("%s message: %w", m.Type, err)
	}
	return m, nil
}

// DecodeCentralMessage parses a control message sent by central (station side).
func DecodeCentralMessage(data []byte) (Msg, error) {
	var m Msg
	if err := decodeStrict(data, &m); err != nil {
		return Msg{}, err
	}
	var err error
	switch m.Type {
	case TypeChallenge:
		if len(m.Nonce) != nonceLen {
			err = fmt.Errorf("nonce of %d bytes; want %d", len(m.Nonce), nonceLen)
		}
	case TypeWelcome:
		if m.MaxChunk < 0 || m.MaxChunk > MaxChunkData || m.Window < 0 {
			err = fmt.Errorf("max_chunk %d or window %d out of range", m.MaxChunk, m.Window)
		}
	case TypeOffset:
		if err = validID(m.ID); err == nil && (m.Have < 0 || m.Have > MaxPacketSize) {
			err = fmt.Errorf("offset %d outside 0-%d", m.Have, MaxPacketSize)
		}
	case TypeReceipt:
		if err = validID(m.ID); err == nil && m.Receipt == nil {
			err = errors.New("receipt missing")
		}
		if err == nil && len(m.Receipt.Sig) != ed25519.SignatureSize {
			err = fmt.Errorf("receipt signature of %d bytes", len(m.Receipt.Sig))
		}
	case TypeError:
		if m.Code == "" {
			err = errors.New("error without a code")
		} else if m.ID != "" {
			err = validID(m.ID)
		}
	default:
		err = fmt.Errorf("message type %.20q is not one central sends", m.Type)
	}
	if err != nil {
		return Msg{}, fmt.Errorf("%s message from central: %w", m.Type, err)
	}
	return m, nil
}

// encode marshals a control message.
func encode(m *Msg) []byte {
	b, err := json.Marshal(m)
	if err != nil {
		panic("uplink: marshal control message: " + err.Error()) // only plain fields: cannot fail
	}
	return b
}
