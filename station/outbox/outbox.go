// Package outbox is the station's durable queue of finalized packets waiting
// to reach the central system.
//
// A packet enters with Put, which returns only once the bytes are committed to
// disk and fsynced, so the officer may be told "saved" the moment Put returns.
// A packet then moves through these states:
//
//	queued ──Claim──▶ sending ──Acknowledge(receipt)──▶ acknowledged ──Purge──▶ purged
//	   ▲                 │
//	   └────Release──────┘          (Reject moves it aside as rejected)
//
// "sending" is kept in memory only: after a crash or restart every packet that
// was being sent is simply queued again, and the uplink's resume protocol asks
// central how much it already holds, so nothing is sent twice.
//
// Storage: one bbolt file. The packet bytes live in their own bucket, the
// small per-packet records in another, and two index buckets keep the queue
// order and the acknowledgement order. Keeping the bytes in bbolt (rather than
// in side files with a bbolt index) means a packet and its record are
// committed in one atomic, fsynced transaction: there is no window in which a
// record points at a missing or half-written file, and no orphan files to
// sweep after a crash. Packets are a few MB at most (face + ten PNG fingers),
// which bbolt stores as contiguous overflow pages; readers copy chunks out of
// the memory map with ReadAt instead of loading whole packets.
//
// A purged packet leaves a small tombstone (its id, size, times and central's
// receipt) so the record of delivery survives the data.
package outbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// State is where a packet is in its life.
type State string

const (
	Queued       State = "queued"       // on disk, waiting for the uplink
	Sending      State = "sending"      // claimed by the uplink (in memory only)
	Acknowledged State = "acknowledged" // central's signed receipt stored; data kept until retention ends
	Purged       State = "purged"       // data deleted; tombstone with the receipt kept
	Rejected     State = "rejected"     // central refused it for good; kept for a technician
)

var (
	// ErrOutboxFull is returned by Put when the packet does not fit in the
	// disk quota even after dropping acknowledged packets early. The station
	// must refuse new enrollments until the uplink drains the queue.
	ErrOutboxFull = errors.New("outbox full: disk quota reached; no new enrollments until queued packets are delivered (check the uplink to central)")
	// ErrNotFound is returned for an unknown packet id.
	ErrNotFound = errors.New("outbox: no such packet")
	// ErrBadID is returned by Put when the id is not the hex SHA-256 of the bytes.
	ErrBadID = errors.New("outbox: packet id is not the hex SHA-256 of the packet bytes")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("outbox: closed")
)

// Bucket names.
var (
	bktMeta  = []byte("meta")     // id -> JSON record
	bktData  = []byte("data")     // id -> packet bytes (absent once purged)
	bktQueue = []byte("queue")    // seq(8, big endian) ++ id -> nil: queued packets in order
	bktAcked = []byte("acked")    // ackUnixNano(8, big endian) ++ id -> nil: held acknowledged packets in ack order
	bktInfo  = []byte("info")     // small counters: next sequence number, last ack time
	bktRej   = []byte("rejected") // id -> nil: packets central refused
)

var (
	keyNextSeq = []byte("next_seq")
	keyLastAck = []byte("last_ack")
)

// Options configure an outbox.
type Options struct {
	// QuotaBytes caps the bytes of packet data held on disk (queued,
	// acknowledged but not yet purged, rejected). 0 means no quota.
	QuotaBytes int64
	// Retention is how long an acknowledged packet's data is kept before
	// Purge deletes it. 0 means purge at the next Purge call.
	Retention time.Duration
	// LockTimeout bounds how long Open waits for the file lock held by
	// another process using the same outbox (default 5 s).
	LockTimeout time.Duration
	// Now is the clock (default time.Now); tests replace it.
	Now func() time.Time
	// Logger receives state changes (packet ids and sizes only). Default slog.Default().
	Logger *slog.Logger
}

// Entry is one packet's record.
type Entry struct {
	ID       string    `json:"id"`
	Size     int64     `json:"size"`
	State    State     `json:"state"`
	Seq      uint64    `json:"seq"`
	Enqueued time.Time `json:"enqueued"`
	Acked    time.Time `json:"acked,omitzero"`
	Purged   time.Time `json:"purged,omitzero"`
	// Receipt is central's signed receipt, stored verbatim (the uplink's encoding).
	Receipt json.RawMessage `json:"receipt,omitempty"`
	// Reason says why central rejected the packet.
	Reason string `json:"reason,omitempty"`
}

// Status summarises the outbox for the operator UI.
type Status struct {
	Depth        int   `json:"depth"`        // packets not yet acknowledged (queued + sending)
	Sending      int   `json:"sending"`      // of which claimed by the uplink now
	QueuedBytes  int64 `json:"queued_bytes"` // bytes not yet acknowledged
	Acknowledged int   `json:"acknowledged"` // acknowledged packets whose data is still held
	AckedBytes   int64 `json:"acked_bytes"`  // their bytes (given up first when space runs out)
	// Room is how many bytes a new packet may have and still fit (counting
	// acknowledged copies as free); -1 without a quota. The station refuses
	// to open a new enrollment when Room is below its expected packet size.
	Room         int64         `json:"room"`
	Rejected     int           `json:"rejected"`      // packets central refused; need a technician
	UsedBytes    int64         `json:"used_bytes"`    // all packet bytes held (counted against the quota)
	QuotaBytes   int64         `json:"quota_bytes"`   // 0 = unlimited
	OldestQueued time.Time     `json:"oldest_queued"` // zero if nothing is waiting
	OldestAge    time.Duration `json:"oldest_age_ns"`
	LastAck      time.Time     `json:"last_ack"` // zero if never
}

// Outbox is the durable packet queue. It is safe for concurrent use.
type Outbox struct {
	db   *bolt.DB
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	used    int64               // bytes held, mirrors the data bucket
	claimed map[string]struct{} // ids in the in-memory "sending" state
	closed  bool
	notify  chan struct{}
}

// Open opens (creating if needed) the outbox file at path.
func Open(path string, opts Options) (*Outbox, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.LockTimeout == 0 {
		opts.LockTimeout = 5 * time.Second
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("outbox: create directory for %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: opts.LockTimeout,
		// The map freelist finds runs of free pages for multi-MB values
		// faster than the array freelist.
		FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("outbox: %s is locked by another process (is a second stationd running?): %w", path, err)
		}
		return nil, fmt.Errorf("outbox: open %s (if the file is damaged, move it aside and restore from backup): %w", path, err)
	}
	// Durability rests on bbolt fsyncing every commit; refuse to run if
	// anything turned that off.
	if db.NoSync {
		db.Close()
		return nil, fmt.Errorf("outbox: %s opened with NoSync; refusing to run without fsync", path)
	}
	o := &Outbox{db: db, opts: opts, log: opts.Logger, claimed: map[string]struct{}{}, notify: make(chan struct{}, 1)}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bktMeta, bktData, bktQueue, bktAcked, bktInfo, bktRej} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		// Bytes held = sum of data values.
		return tx.Bucket(bktData).ForEach(func(k, v []byte) error {
			o.used += int64(len(v))
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("outbox: initialise %s: %w", path, err)
	}
	return o, nil
}

// Close closes the file. Packets claimed by the uplink are queued again on the next Open.
func (o *Outbox) Close() error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil
	}
	o.closed = true
	o.mu.Unlock()
	return o.db.Close()
}

// PacketID returns the id the outbox expects for data: hex SHA-256.
func PacketID(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// Put stores a packet. It returns nil only after the packet and its record
// are committed and fsynced. Putting a packet already held (or already
// delivered and purged) is a no-op that returns nil.
func (o *Outbox) Put(ctx context.Context, id string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if id != PacketID(data) {
		return ErrBadID
	}
	key := []byte(id)
	size := int64(len(data))
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
	}
	if o.opts.QuotaBytes > 0 && size > o.opts.QuotaBytes {
		return fmt.Errorf("packet %s of %d bytes is larger than the whole quota of %d bytes: %w", short(id), size, o.opts.QuotaBytes, ErrOutboxFull)
	}
	now := o.opts.Now()
	var freed int64
	var existed bool
	err := o.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bktMeta)
		if meta.Get(key) != nil {
			existed = true
			return nil
		}
		// Over quota: acknowledged packets are safe at central, so drop
		// their local copies (oldest acknowledgement first) before refusing.
		if o.opts.QuotaBytes > 0 && o.used+size > o.opts.QuotaBytes {
			c := tx.Bucket(bktAcked).Cursor()
			for k, _ := c.First(); k != nil && o.used-freed+size > o.opts.QuotaBytes; k, _ = c.First() {
				n, err := purgeLocked(tx, k[8:], now)
				if err != nil {
					return err
				}
				freed += n
			}
			if o.used-freed+size > o.opts.QuotaBytes {
				return fmt.Errorf("packet %s needs %d bytes, %d of %d in use: %w", short(id), size, o.used-freed, o.opts.QuotaBytes, ErrOutboxFull)
			}
		}
		info := tx.Bucket(bktInfo)
		seq := uint64(1)
		if v := info.Get(keyNextSeq); len(v) == 8 {
			seq = binary.BigEndian.Uint64(v)
		}
		if err := info.Put(keyNextSeq, be64(seq+1)); err != nil {
			return err
		}
		e := Entry{ID: id, Size: size, State: Queued, Seq: seq, Enqueued: now}
		if err := putMeta(meta, &e); err != nil {
			return err
		}
		if err := tx.Bucket(bktData).Put(key, data); err != nil {
			return err
		}
		return tx.Bucket(bktQueue).Put(append(be64(seq), key...), nil)
	})
	if err != nil {
		if errors.Is(err, ErrOutboxFull) {
			return err
		}
		return fmt.Errorf("outbox: store packet %s (check free disk space): %w", short(id), err)
	}
	o.used -= freed
	if existed {
		return nil
	}
	o.used += size
	o.log.Info("outbox: packet queued", "packet", short(id), "bytes", size)
	o.signal()
	return nil
}

func (o *Outbox) signal() {
	select {
	case o.notify <- struct{}{}:
	default:
	}
}

// Queued returns a channel that receives a value when a packet becomes
// available to claim (after Put or Release). Meant for one consumer, the uplink.
func (o *Outbox) Queued() <-chan struct{} { return o.notify }

// Claim moves up to max queued packets, oldest first, to the sending state
// and returns their records.
func (o *Outbox) Claim(max int) ([]Entry, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, ErrClosed
	}
	var out []Entry
	err := o.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bktMeta)
		c := tx.Bucket(bktQueue).Cursor()
		for k, _ := c.First(); k != nil && len(out) < max; k, _ = c.Next() {
			id := string(k[8:])
			if _, busy := o.claimed[id]; busy {
				continue
			}
			e, err := getMeta(meta, k[8:])
			if err != nil {
				return err
			}
			e.State = Sending
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: read queue: %w", err)
	}
	for _, e := range out {
		o.claimed[e.ID] = struct{}{}
	}
	return out, nil
}

// Release puts a claimed packet back in the queue (the upload was interrupted).
func (o *Outbox) Release(id string) {
	o.mu.Lock()
	_, was := o.claimed[id]
	delete(o.claimed, id)
	o.mu.Unlock()
	if was {
		o.signal()
	}
}

// ReadAt copies packet bytes from offset off into p, like io.ReaderAt.
func (o *Outbox) ReadAt(id string, p []byte, off int64) (int, error) {
	var n int
	err := o.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bktData).Get([]byte(id))
		if v == nil {
			return ErrNotFound
		}
		if off < 0 || off > int64(len(v)) {
			return fmt.Errorf("outbox: offset %d outside packet %s of %d bytes", off, short(id), len(v))
		}
		n = copy(p, v[off:])
		return nil
	})
	if err != nil {
		return 0, err
	}
	if n < len(p) {
		return n, errEOF
	}
	return n, nil
}

var errEOF = io.EOF

// Data returns a copy of a held packet's bytes.
func (o *Outbox) Data(id string) ([]byte, error) {
	var out []byte
	err := o.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bktData).Get([]byte(id))
		if v == nil {
			return ErrNotFound
		}
		out = bytes.Clone(v)
		return nil
	})
	return out, err
}

// Get returns a packet's record.
func (o *Outbox) Get(id string) (Entry, error) {
	var e Entry
	err := o.db.View(func(tx *bolt.Tx) error {
		var err error
		e, err = getMeta(tx.Bucket(bktMeta), []byte(id))
		return err
	})
	if err != nil {
		return Entry{}, err
	}
	o.overlay(&e)
	return e, nil
}

func (o *Outbox) overlay(e *Entry) {
	if e.State != Queued {
		return
	}
	o.mu.Lock()
	if _, busy := o.claimed[e.ID]; busy {
		e.State = Sending
	}
	o.mu.Unlock()
}

// Acknowledge records central's receipt for a packet and moves it to the
// acknowledged state; the receipt must already have been verified by the
// caller. Acknowledging an already acknowledged packet is a no-op.
func (o *Outbox) Acknowledge(id string, receipt []byte) error {
	if !json.Valid(receipt) {
		return fmt.Errorf("outbox: receipt for %s is not JSON", short(id))
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
	}
	now := o.opts.Now()
	err := o.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bktMeta)
		e, err := getMeta(meta, []byte(id))
		if err != nil {
			return err
		}
		if e.State != Queued && e.State != Rejected {
			return nil
		}
		if err := tx.Bucket(bktQueue).Delete(append(be64(e.Seq), id...)); err != nil {
			return err
		}
		if err := tx.Bucket(bktRej).Delete([]byte(id)); err != nil {
			return err
		}
		e.State, e.Acked, e.Receipt, e.Reason = Acknowledged, now, bytes.Clone(receipt), ""
		if err := putMeta(meta, &e); err != nil {
			return err
		}
		if err := tx.Bucket(bktAcked).Put(append(be64(uint64(now.UnixNano())), id...), nil); err != nil {
			return err
		}
		return tx.Bucket(bktInfo).Put(keyLastAck, be64(uint64(now.UnixNano())))
	})
	if err != nil {
		return fmt.Errorf("outbox: acknowledge %s: %w", short(id), err)
	}
	delete(o.claimed, id)
	o.log.Info("outbox: packet acknowledged by central", "packet", short(id))
	return nil
}

// Reject sets a packet aside because central refused it for good (for
// example its signature did not verify). It stays on disk for a technician.
func (o *Outbox) Reject(id, reason string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
	}
	err := o.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bktMeta)
		e, err := getMeta(meta, []byte(id))
		if err != nil {
			return err
		}
		if e.State != Queued {
			return nil
		}
		if err := tx.Bucket(bktQueue).Delete(append(be64(e.Seq), id...)); err != nil {
			return err
		}
		e.State, e.Reason = Rejected, reason
		if err := tx.Bucket(bktRej).Put([]byte(id), nil); err != nil {
			return err
		}
		return putMeta(meta, &e)
	})
	if err != nil {
		return fmt.Errorf("outbox: reject %s: %w", short(id), err)
	}
	delete(o.claimed, id)
	o.log.Warn("outbox: central rejected packet; kept for a technician", "packet", short(id), "reason", reason)
	return nil
}

// Requeue puts a rejected packet back in the queue (technician action).
func (o *Outbox) Requeue(id string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	err := o.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bktMeta)
		e, err := getMeta(meta, []byte(id))
		if err != nil {
			return err
		}
		if e.State != Rejected {
			return fmt.Errorf("packet is %s, not rejected", e.State)
		}
		e.State, e.Reason = Queued, ""
		if err := tx.Bucket(bktRej).Delete([]byte(id)); err != nil {
			return err
		}
		if err := putMeta(meta, &e); err != nil {
			return err
		}
		return tx.Bucket(bktQueue).Put(append(be64(e.Seq), id...), nil)
	})
	if err != nil {
		return fmt.Errorf("outbox: requeue %s: %w", short(id), err)
	}
	o.signal()
	return nil
}

// Purge deletes the data of packets acknowledged longer ago than the
// retention period, keeping their tombstones. It returns how many it purged.
func (o *Outbox) Purge(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return 0, ErrClosed
	}
	now := o.opts.Now()
	cutoff := uint64(now.Add(-o.opts.Retention).UnixNano())
	var n int
	var freed int64
	err := o.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bktAcked).Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k[:8]) <= cutoff; k, _ = c.First() {
			f, err := purgeLocked(tx, k[8:], now)
			if err != nil {
				return err
			}
			freed += f
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("outbox: purge: %w", err)
	}
	o.used -= freed
	if n > 0 {
		o.log.Info("outbox: purged acknowledged packets", "count", n, "bytes", freed)
	}
	return n, nil
}

// purgeLocked deletes one acknowledged packet's data and index entry inside tx.
func purgeLocked(tx *bolt.Tx, id []byte, now time.Time) (int64, error) {
	meta := tx.Bucket(bktMeta)
	e, err := getMeta(meta, id)
	if err != nil {
		return 0, err
	}
	if err := tx.Bucket(bktAcked).Delete(append(be64(uint64(e.Acked.UnixNano())), id...)); err != nil {
		return 0, err
	}
	data := tx.Bucket(bktData)
	n := int64(len(data.Get(id)))
	if err := data.Delete(id); err != nil {
		return 0, err
	}
	e.State, e.Purged = Purged, now
	return n, putMeta(meta, &e)
}

// List returns records, newest first, optionally only those in the given
// states, at most limit of them (0 = all).
func (o *Outbox) List(limit int, states ...State) ([]Entry, error) {
	want := map[State]bool{}
	for _, s := range states {
		want[s] = true
	}
	var out []Entry
	err := o.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bktMeta).ForEach(func(k, v []byte) error {
			var e Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("record %s: %w", short(string(k)), err)
			}
			o.overlay(&e)
			if len(want) == 0 || want[e.State] {
				out = append(out, e)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: list: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq > out[j].Seq })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Status summarises the outbox.
func (o *Outbox) Status() (Status, error) {
	o.mu.Lock()
	st := Status{UsedBytes: o.used, QuotaBytes: o.opts.QuotaBytes, Sending: len(o.claimed)}
	o.mu.Unlock()
	err := o.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bktMeta)
		c := tx.Bucket(bktQueue).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			e, err := getMeta(meta, k[8:])
			if err != nil {
				return err
			}
			if st.Depth == 0 {
				st.OldestQueued = e.Enqueued
			}
			st.Depth++
			st.QueuedBytes += e.Size
		}
		ac := tx.Bucket(bktAcked).Cursor()
		for k, _ := ac.First(); k != nil; k, _ = ac.Next() {
			e, err := getMeta(meta, k[8:])
			if err != nil {
				return err
			}
			st.Acknowledged++
			st.AckedBytes += e.Size
		}
		st.Rejected = tx.Bucket(bktRej).Stats().KeyN
		if v := tx.Bucket(bktInfo).Get(keyLastAck); len(v) == 8 {
			st.LastAck = time.Unix(0, int64(binary.BigEndian.Uint64(v)))
		}
		return nil
	})
	if err != nil {
		return Status{}, fmt.Errorf("outbox: status: %w", err)
	}
	st.Room = -1
	if st.QuotaBytes > 0 {
		st.Room = max(0, st.QuotaBytes-st.UsedBytes+st.AckedBytes)
	}
	if !st.OldestQueued.IsZero() {
		st.OldestAge = o.opts.Now().Sub(st.OldestQueued)
	}
	return st, nil
}

func putMeta(b *bolt.Bucket, e *Entry) error {
	v, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return b.Put([]byte(e.ID), v)
}

func getMeta(b *bolt.Bucket, id []byte) (Entry, error) {
	v := b.Get(id)
	if v == nil {
		return Entry{}, ErrNotFound
	}
	var e Entry
	if err := json.Unmarshal(v, &e); err != nil {
		return Entry{}, fmt.Errorf("record %s is damaged: %w", short(string(id)), err)
	}
	return e, nil
}

func be64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

// short abbreviates a packet id for logs and errors.
func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
