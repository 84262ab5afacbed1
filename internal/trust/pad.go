package trust

import (
	"encoding/binary"
	"errors"
	"math/bits"
)

// Padding hides each change's exact size: a revision's plaintext is
//
//	uint32 big-endian length n ‖ the n bytes of the document ‖ zero bytes
//
// up to the bucket size. Buckets follow Padmé (Nikitin et al., "Reducing
// Metadata Leakage from Encrypted Files and Communication with PURBs",
// 2019): a length of 2^E bytes is rounded up to a multiple of
// 2^(E-floor(log2 E)-1), so sizes leak O(log log n) bits and padding costs
// at most 12% (powers of two, which TRUST.md §4 suggests, cost up to 100%:
// an environment just over 2 MiB would seal to over 4 MiB, the server's
// limit). The smallest bucket is minBucket. There is exactly one padding
// for each document, and unpad refuses any other (wrong bucket, non-zero
// padding, impossible length), so a padded plaintext cannot carry a second
// meaning.
const minBucket = 256

// maxPadded bounds documents to 1 GiB; anything larger is not an environment.
const maxPadded = 1 << 30

var errPadding = errors.New("malformed padding")

func bucket(n int) int {
	need := 4 + n
	if need <= minBucket {
		return minBucket
	}
	e := bits.Len(uint(need)) - 1        // floor(log2 need)
	mask := 1<<(e-bits.Len(uint(e))) - 1 // keep the top floor(log2 e)+1 bits
	return (need + mask) &^ mask
}

func pad(doc []byte) ([]byte, error) {
	if len(doc) > maxPadded-4 {
		return nil, errors.New("document too large to seal")
	}
	out := make([]byte, bucket(len(doc)))
	binary.BigEndian.PutUint32(out, uint32(len(doc)))
	copy(out[4:], doc)
	return out, nil
}

func unpad(p []byte) ([]byte, error) {
	if len(p) < minBucket || len(p) > maxPadded {
		return nil, errPadding
	}
	n := binary.BigEndian.Uint32(p)
	if uint64(n) > uint64(len(p)-4) || bucket(int(n)) != len(p) {
		return nil, errPadding
	}
	for _, b := range p[4+n:] {
		if b != 0 {
			return nil, errPadding
		}
	}
	return p[4 : 4+n : 4+n], nil
}
