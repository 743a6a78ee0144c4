package packet

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"image"
	"time"

	"github.com/openenroll/stationd/station/packet/ansinist"
)

// ManifestFormat identifies this manifest layout.
const ManifestFormat = "openenroll-packet-manifest/1"

// Manifest describes a packet: who and what, each capture's quality, and
// every item's SHA-256 linked into a hash chain. The station signs the
// manifest; the chain makes the signature cover every item's bytes.
type Manifest struct {
	Format       string    `json:"format"`
	SessionID    string    `json:"session_id"`
	StationID    string    `json:"station_id"`
	OperatorID   string    `json:"operator_id"`
	ApplicantRef string    `json:"applicant_ref"`
	Started      time.Time `json:"started,omitzero"`
	Finalized    time.Time `json:"finalized"`
	Built        time.Time `json:"built"`
	// StationKeyID signs this manifest; CentralKeyID is the key the packet
	// is encrypted to (checked on open, so a packet cannot be re-wrapped
	// for another central without the station's signature).
	StationKeyID      string        `json:"station_key_id"`
	CentralKeyID      string        `json:"central_key_id"`
	FingerCompression Compression   `json:"finger_compression"`
	Devices           []DeviceInfo  `json:"devices,omitempty"`
	Face              *FaceEntry    `json:"face,omitempty"`
	Fingers           []FingerEntry `json:"fingers"`
	// Slaps are the whole slap images, in the transaction after the single
	// fingers (absent when none was taken).
	Slaps []SlapEntry `json:"slaps,omitempty"`
	Card  *CardResult `json:"card,omitempty"`
	Items []Item      `json:"items"`
	// ChainHead is the last item's chain hash: one value that commits to
	// every item, in order.
	ChainHead string `json:"chain_head"`
}

// FaceEntry is the manifest's account of the face capture.
type FaceEntry struct {
	Quality  Quality   `json:"quality"`
	Attempts int       `json:"attempts"`
	Captured time.Time `json:"captured,omitzero"`
	DeviceID string    `json:"device_id,omitempty"`
	Width    int       `json:"width"`
	Height   int       `json:"height"`
	// ImageSHA256 is the hash of the JPEG as stored in the Type-10 and
	// ISO/IEC 19794-5 records.
	ImageSHA256 string `json:"image_sha256"`
}

// Finger statuses in the manifest.
const (
	StatusCaptured  = "captured"
	StatusException = "exception"
)

// FingerEntry is the manifest's account of one finger position.
type FingerEntry struct {
	Position FingerPosition `json:"position"`
	Name     string         `json:"name"`
	Status   string         `json:"status"`
	Attempts int            `json:"attempts"`
	// For captured fingers:
	Quality  *Quality  `json:"quality,omitempty"`
	PPI      int       `json:"ppi,omitempty"`
	Width    int       `json:"width,omitempty"`
	Height   int       `json:"height,omitempty"`
	Rolled   bool      `json:"rolled,omitempty"`
	Captured time.Time `json:"captured,omitzero"`
	DeviceID string    `json:"device_id,omitempty"`
	// ImageSHA256 hashes the compressed image as stored in the Type-14
	// and ISO/IEC 19794-4 records.
	ImageSHA256 string `json:"image_sha256,omitempty"`
	// For exceptions:
	Exception *ExceptionEntry `json:"exception,omitempty"`
}

// SlapEntry is the manifest's account of one slap image.
type SlapEntry struct {
	Position FingerPosition `json:"position"` // 13, 14 or 15
	Name     string         `json:"name"`
	PPI      int            `json:"ppi"`
	Width    int            `json:"width"`
	Height   int            `json:"height"`
	Captured time.Time      `json:"captured,omitzero"`
	DeviceID string         `json:"device_id,omitempty"`
	// ImageSHA256 hashes the compressed image as stored in its Type-14.
	ImageSHA256 string         `json:"image_sha256"`
	Segments    []SegmentEntry `json:"segments"`
}

// SegmentEntry is where one finger lies on a slap: inclusive pixel edges,
// as the Type-14 SEG field gives them, and its quality there.
type SegmentEntry struct {
	Position FingerPosition `json:"position"`
	Name     string         `json:"name"`
	Left     int            `json:"left"`
	Right    int            `json:"right"`
	Top      int            `json:"top"`
	Bottom   int            `json:"bottom"`
	// Outline is the finger's polygon as the Type-14 ASEG field gives it,
	// [column, row] corners; absent when only the box is known.
	Outline [][2]int `json:"outline,omitempty"`
	Quality Quality  `json:"quality"`
}

// segments returns the slap's fingers as the Type-14 SEG subfields and, for
// those with an outline, ASEG subfields: what the records carry and what a
// receiver checks them against.
func (se *SlapEntry) segments() ([]ansinist.Segment, []ansinist.Outline) {
	var seg []ansinist.Segment
	var aseg []ansinist.Outline
	for _, g := range se.Segments {
		seg = append(seg, ansinist.Segment{FGP: int(g.Position), Left: g.Left, Right: g.Right, Top: g.Top, Bottom: g.Bottom})
		if g.Outline == nil {
			continue
		}
		o := ansinist.Outline{FGP: int(g.Position)}
		for _, p := range g.Outline {
			o.Points = append(o.Points, image.Pt(p[0], p[1]))
		}
		aseg = append(aseg, o)
	}
	return seg, aseg
}

// ExceptionEntry records why a finger has no image.
type ExceptionEntry struct {
	Reason ExceptionReason `json:"reason"`
	Note   string          `json:"note,omitempty"`
	// PhotoItem names the item holding the exception photo, if any.
	PhotoItem string `json:"photo_item,omitempty"`
}

// Item is one file carried in the packet.
type Item struct {
	Name      string `json:"name"`
	MediaType string `json:"media_type"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
	// Chain = SHA-256(previous chain || SHA-256(bytes) || len(name) || name
	// || len(media type) || media type), lengths as 4-byte big-endian; the
	// first item's previous chain is chainGenesis(session id).
	Chain string `json:"chain"`
}

// Item names and media types.
const (
	ItemTransaction = "transaction.an2"
	ItemFingers     = "fingers.fir"
	ItemFace        = "face.fac"
	MediaAN2        = "application/x-ansi-nist-itl-2011"
	MediaISOFinger  = "application/x-iso19794-4-2011"
	MediaISOFace    = "application/x-iso19794-5-2011"
	MediaJPEG       = "image/jpeg"
)

// chainGenesis starts the chain from the session id, so items cannot be
// spliced from one session's chain into another's.
func chainGenesis(sessionID string) [32]byte {
	return sha256.Sum256(append([]byte("openenroll-packet-chain/1\x00"), sessionID...))
}

// chainNext computes an item's chain hash.
func chainNext(prev [32]byte, itemSum [32]byte, name, mediaType string) [32]byte {
	h := sha256.New()
	h.Write(prev[:])
	h.Write(itemSum[:])
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(name)))
	h.Write(n[:])
	h.Write([]byte(name))
	binary.BigEndian.PutUint32(n[:], uint32(len(mediaType)))
	h.Write(n[:])
	h.Write([]byte(mediaType))
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// chainItems fills the manifest's item list and chain head.
func (m *Manifest) chainItems(items []payloadItem) {
	prev := chainGenesis(m.SessionID)
	m.Items = m.Items[:0]
	for _, it := range items {
		sum := sha256.Sum256(it.data)
		prev = chainNext(prev, sum, it.name, it.mediaType)
		m.Items = append(m.Items, Item{Name: it.name, MediaType: it.mediaType, Size: int64(len(it.data)),
			SHA256: hex.EncodeToString(sum[:]), Chain: hex.EncodeToString(prev[:])})
	}
	m.ChainHead = hex.EncodeToString(prev[:])
}
