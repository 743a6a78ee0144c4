// Package packet turns a finished enrollment into the packet the station
// sends to the central: standard biometric records, a manifest that chains
// their hashes, the station's signature, and hybrid post-quantum
// encryption to the central's key. Open is the central's inverse: it
// decrypts, verifies, and parses every record back.
//
// # What a packet holds
//
// Items, in this order:
//
//   - transaction.an2: an ANSI/NIST-ITL 1-2011 transaction in traditional
//     encoding (package ansinist). Type-1 (VER 0400, TOT, DAT, DAI, ORI, TCN
//     = session id, NSR/NTR in px/mm), one Type-2 (IDC 0), one Type-10 for
//     the face (IDC 1, JPEGB) and one Type-14 per captured finger (IDC 2...
//     in finger position order; CGA PNG, WSQ20 or NONE; FQM carries our
//     quality score with Options.QualityVendorID/QualityProductCode), then
//     one Type-14 per slap the booth took (FGP 13 right four, 14 left four,
//     15 two thumbs; plain impression, same compression), with a SEG
//     subfield (14.021) giving each finger's box on it and an FQM subfield
//     per finger, so the central can check the fingers' sequence against
//     the single prints or cut them again.
//   - fingers.fir: one ISO/IEC 19794-4:2011 record with a representation per
//     captured single finger, same images and order (absent if none was
//     captured); slaps are in the transaction only.
//   - face.fac: an ISO/IEC 19794-5:2011 record with the portrait (absent
//     without a face).
//   - exception-NN.jpg: the photo taken for an excepted finger at position
//     NN, when the policy asks for one.
//
// Our Type-2 fields (2.003 and up are the receiving domain's):
//
//	2.003  applicant reference
//	2.004  session id
//	2.005  operator id
//	2.006  station id
//	2.007  finger exceptions, one subfield per finger:
//	       FGP <US> XX (amputated) | UP (unable to print) <US> reason
//	       (amputated, bandaged, unable)
//	2.008  card result: mode <US> OK | FAIL
//
// # Manifest and hash chain
//
// The manifest (JSON, see Manifest) lists station, operator, applicant
// reference, times, devices with calibration state, per-capture quality with
// reasons and attempts, exceptions, the card result, and every item with
// its size, SHA-256 and chain hash:
//
//	chain_0 = SHA-256("openenroll-packet-chain/1" 0x00 session-id)
//	chain_i = SHA-256(chain_{i-1} || SHA-256(item_i) ||
//	                  u32(len name) || name || u32(len type) || type)
//
// The last chain value is ChainHead. The station signs the manifest as a
// JWS (compact serialization, protected header alg = EdDSA/ES256/ES384,
// kid = RFC 7638 thumbprint of the station key, cty =
// "openenroll-manifest+json"), so the one signature covers every byte.
//
// # Packet bytes
//
// The packet id is the hex SHA-256 of the whole packet (ID), which is what
// the outbox, the uplink's offer and the central's store key on.
//
// Envelope (all integers big-endian):
//
//	"OEPK"            4  magic
//	version           1  = 1
//	kem, kdf, aead    2+2+2  HPKE ids: 0x647a ML-KEM-768+X25519, 0x0001
//	                     HKDF-SHA256, 0x0002 AES-256-GCM
//	kid length        1
//	kid               n  central key id: base64url(SHA-256(public key)[:16])
//	enc length        2
//	enc               m  HPKE encapsulated key
//	ciphertext        .. HPKE Seal of the payload; the header above is the
//	                     AEAD additional data, info = "openenroll packet v1"
//
// Payload (the plaintext):
//
//	"OEPI" 4, version 1 (= 1), entry count 2, then per entry:
//	name length 2, name, data length 4, data.
//	Entry 0 is "manifest.jws"; the others are the manifest's items in order.
//
// # Keys
//
// The station signs with an Ed25519 or ECDSA key (PKCS#8 "PRIVATE KEY"
// PEM, mode 0600 or stricter) and encrypts to the central's HPKE public key
// ("HPKE PUBLIC KEY" PEM). The central holds one or more HPKE private keys
// ("HPKE PRIVATE KEY" PEM, 0600) and the station public keys it trusts
// ("PUBLIC KEY" PEM, optionally with a "Station-Id" header that the
// manifest's station id must match). Private key files readable by group or
// others, and any key file writable by them, are refused. Both sides key
// by id, so rotation is a config change: the central lists old and new
// keys; stations switch to the new public key; the old key is removed once
// no packet for it is left in any outbox.
package packet
