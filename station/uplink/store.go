package uplink

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Store is central's packet store, a directory:
//
//	partial/<id>.part   bytes received so far of an unfinished upload
//	packets/<id>.pkt    a complete packet whose hash was verified (written once)
//	packets/<id>.json   its Held record with the signed receipt; written last,
//	                    so a packet "is held" exactly when this file exists
//	opened/<id>/        files the Accept hook wrote (e.g. .an2 and ISO 19794 records)
//
// Partial uploads survive a restart of central: the next offer resumes from
// the partial file's length.
type Store struct {
	dir string

	mu  sync.Mutex
	ups map[string]*upload

	dupBytes atomic.Int64 // chunk bytes received for offsets already held
}

// upload is one unfinished packet. Its mutex serialises chunks, commit and
// takeover by a new connection.
type upload struct {
	mu    sync.Mutex
	f     *os.File
	have  int64
	size  int64
	owner uint64 // connection currently allowed to write; 0 = none
}

// Held is central's record of a stored packet (packets/<id>.json).
type Held struct {
	ID       string    `json:"id"`
	Size     int64     `json:"size"`
	Station  string    `json:"station"`
	Received time.Time `json:"received"`
	Receipt  *Receipt  `json:"receipt"`
}

// Accepted is handed to the Accept hook once a packet's hash is verified.
type Accepted struct {
	Station  string // authenticated station id
	PacketID string
	Data     []byte // the whole packet, exactly as the station's outbox holds it
	// Dir is an empty directory for files derived from the packet (decrypted
	// records: .an2, ISO 19794). It becomes opened/<id> when the packet is stored.
	Dir string
}

// AcceptFunc is the packet-opening step central runs before storing a packet
// and issuing its receipt: verify the station's signature, decrypt, parse and
// write standard files into Dir. Returning an error wrapping ErrRejected
// refuses the packet for good (the station sets it aside); any other error is
// temporary (the station retries later). A nil AcceptFunc stores only.
type AcceptFunc func(ctx context.Context, p Accepted) error

// ErrRejected marks a permanent refusal from an AcceptFunc.
var ErrRejected = errors.New("packet rejected by central")

// Store errors.
var (
	errSuperseded   = errors.New("another connection took over this upload")
	errHashMismatch = errors.New("received bytes do not hash to the packet id; partial upload discarded")
	errNotStarted   = errors.New("no offer for this packet on this connection")
)

// offsetError says where the next chunk must start.
type offsetError struct{ have, got int64 }

func (e *offsetError) Error() string {
	return fmt.Sprintf("chunk at offset %d, but central has %d bytes", e.got, e.have)
}

// OpenStore opens (creating) a store directory.
func OpenStore(dir string) (*Store, error) {
	for _, d := range []string{"partial", "packets", "opened"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("central store: %w", err)
		}
	}
	return &Store{dir: dir, ups: map[string]*upload{}}, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// DuplicateBytes counts chunk bytes that arrived for offsets central already
// held: bytes the station re-sent after central reported having them.
func (s *Store) DuplicateBytes() int64 { return s.dupBytes.Load() }

func (s *Store) pktPath(id string) string  { return filepath.Join(s.dir, "packets", id+".pkt") }
func (s *Store) heldPath(id string) string { return filepath.Join(s.dir, "packets", id+".json") }
func (s *Store) partPath(id string) string { return filepath.Join(s.dir, "partial", id+".part") }

// Held returns the record of a stored packet, or nil if central does not hold it.
func (s *Store) Held(id string) (*Held, error) {
	if validID(id) != nil {
		return nil, fmt.Errorf("central store: bad packet id")
	}
	data, err := os.ReadFile(s.heldPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("central store: %w", err)
	}
	var h Held
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("central store: record %s.json is damaged: %w", id, err)
	}
	return &h, nil
}

// Packet returns a stored packet's bytes.
func (s *Store) Packet(id string) ([]byte, error) {
	if validID(id) != nil {
		return nil, fmt.Errorf("central store: bad packet id")
	}
	return os.ReadFile(s.pktPath(id))
}

// List returns every held packet, oldest first.
func (s *Store) List() ([]Held, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, "packets"))
	if err != nil {
		return nil, fmt.Errorf("central store: %w", err)
	}
	out := []Held{}
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || validID(id) != nil {
			continue
		}
		h, err := s.Held(id)
		if err != nil {
			return nil, err
		}
		if h != nil {
			out = append(out, *h)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Received.Before(out[j].Received) })
	return out, nil
}

func (s *Store) get(id string) *upload {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.ups[id]
	if u == nil {
		u = &upload{}
		s.ups[id] = u
	}
	return u
}

// begin makes owner the writer of upload id and returns how many bytes
// central holds, or the Held record if the packet is already stored.
func (s *Store) begin(id string, size int64, owner uint64) (int64, *Held, error) {
	u := s.get(id)
	u.mu.Lock()
	defer u.mu.Unlock()
	// Checked under the upload's lock: a commit finishing on another
	// connection is either fully visible here or not started.
	if h, err := s.Held(id); err != nil || h != nil {
		return 0, h, err
	}
	if u.f == nil {
		f, err := os.OpenFile(s.partPath(id), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return 0, nil, fmt.Errorf("central store: open partial upload: %w", err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return 0, nil, err
		}
		u.f, u.have = f, fi.Size()
	}
	u.size = size
	if u.have > size {
		// Cannot be a prefix of this packet: start over.
		if err := u.f.Truncate(0); err != nil {
			return 0, nil, err
		}
		u.have = 0
	}
	u.owner = owner
	return u.have, nil, nil
}

// write appends a chunk to upload id for owner.
func (s *Store) write(c Chunk, owner uint64) error {
	s.mu.Lock()
	u := s.ups[c.ID]
	s.mu.Unlock()
	if u == nil {
		return errNotStarted
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.owner != owner || u.f == nil {
		if u.owner == 0 || u.f == nil {
			return errNotStarted
		}
		return errSuperseded
	}
	if c.Offset != u.have {
		if c.Offset < u.have {
			s.dupBytes.Add(min(u.have-c.Offset, int64(len(c.Data))))
		}
		return &offsetError{have: u.have, got: c.Offset}
	}
	if c.Offset+int64(len(c.Data)) > u.size {
		return fmt.Errorf("chunk ends at %d, past the offered size %d", c.Offset+int64(len(c.Data)), u.size)
	}
	if _, err := u.f.WriteAt(c.Data, c.Offset); err != nil {
		return fmt.Errorf("central store: write partial upload: %w", err)
	}
	u.have += int64(len(c.Data))
	return nil
}

// release drops owner's claim on upload id and closes its file (at the end
// of a connection). The partial file stays for the next offer.
func (s *Store) release(id string, owner uint64) {
	s.mu.Lock()
	u := s.ups[id]
	s.mu.Unlock()
	if u == nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.owner != owner {
		return
	}
	u.owner = 0
	if u.f != nil {
		u.f.Close()
		u.f = nil
	}
	// The entry stays in the map: another connection may hold a pointer to
	// it already, waiting for the lock in begin.
}

// commit verifies a complete upload, runs accept, stores the packet and
// returns its signed receipt.
func (s *Store) commit(ctx context.Context, id string, owner uint64, station string, key ed25519.PrivateKey, now time.Time, accept AcceptFunc) (*Held, error) {
	u := s.get(id)
	u.mu.Lock()
	defer u.mu.Unlock()
	if h, err := s.Held(id); err != nil || h != nil {
		return h, err
	}
	if u.owner != owner || u.f == nil {
		return nil, errNotStarted
	}
	if u.have != u.size {
		return nil, &offsetError{have: u.have, got: u.size}
	}
	data := make([]byte, u.size)
	if _, err := u.f.ReadAt(data, 0); err != nil {
		return nil, fmt.Errorf("central store: read partial upload: %w", err)
	}
	if PacketID(data) != id {
		u.f.Truncate(0)
		u.have = 0
		return nil, errHashMismatch
	}
	if err := u.f.Sync(); err != nil {
		return nil, fmt.Errorf("central store: sync: %w", err)
	}
	opened := filepath.Join(s.dir, "opened")
	tmp, err := os.MkdirTemp(opened, ".tmp-"+id[:12]+"-")
	if err != nil {
		return nil, fmt.Errorf("central store: %w", err)
	}
	defer os.RemoveAll(tmp) // no-op once renamed
	if accept != nil {
		if err := accept(ctx, Accepted{Station: station, PacketID: id, Data: data, Dir: tmp}); err != nil {
			return nil, err
		}
	}
	if err := syncTree(tmp); err != nil {
		return nil, err
	}
	u.f.Close()
	u.f = nil
	if err := os.Rename(s.partPath(id), s.pktPath(id)); err != nil {
		return nil, fmt.Errorf("central store: %w", err)
	}
	final := filepath.Join(opened, id)
	if err := os.RemoveAll(final); err != nil { // left by a crash before the record was written
		return nil, err
	}
	if err := os.Rename(tmp, final); err != nil {
		return nil, fmt.Errorf("central store: %w", err)
	}
	if err := syncDir(opened); err != nil {
		return nil, err
	}
	h := &Held{ID: id, Size: u.size, Station: station, Received: now.UTC(), Receipt: SignReceipt(key, id, u.size, now)}
	rec, _ := json.MarshalIndent(h, "", "  ")
	if err := writeFileSync(s.heldPath(id), rec); err != nil {
		return nil, err
	}
	s.mu.Lock()
	delete(s.ups, id)
	s.mu.Unlock()
	u.owner = 0
	return h, nil
}

// writeFileSync writes path atomically and durably: temp file, fsync,
// rename, fsync of the directory.
func writeFileSync(path string, data []byte) error {
	var rnd [6]byte
	rand.Read(rnd[:])
	tmp := path + ".tmp-" + hex.EncodeToString(rnd[:])
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("central store: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("central store: write %s: %w", filepath.Base(path), err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("central store: sync directory %s: %w", dir, err)
	}
	return nil
}

// syncTree fsyncs every file and directory under root (the hook's output).
func syncTree(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Sync()
	})
}
