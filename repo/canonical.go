package repo

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/selfevals/selfevals/repo/internal/canonical"
)

// Canonical returns the canonical JSON of v (RFC 8785 style): object keys
// sorted, no insignificant whitespace, numbers in their shortest form, so that
// the same value has the same bytes on every machine whatever its source
// (YAML, JSON, Go structs) or key order.
func Canonical(v any) ([]byte, error) { return canonical.Marshal(v) }

// CanonicalOnce is Canonical for a value whose type a process encodes
// about once (a spec or a block of one): the same bytes, prepared faster
// (see canonical.MarshalOnce).
func CanonicalOnce(v any) ([]byte, error) { return canonical.MarshalOnce(v) }

// CanonicalizeJSON rewrites a JSON document into its canonical form. It
// reads what goccy/go-json's decoder read, quirks included, so that IDs do
// not change; nothing but whitespace may follow the value.
func CanonicalizeJSON(raw []byte) ([]byte, error) { return canonical.Transform(raw) }

// HashID returns prefix + "_" + the first 16 hex digits of the SHA-256 of the
// canonical JSON of v.
func HashID(prefix string, v any) (string, error) {
	b, err := Canonical(v)
	if err != nil {
		return "", err
	}
	return HashBytesID(prefix, b), nil
}

// experimentID is the ID of a spec, hashed without its parameters (they
// are what an experiment varies). It is HashID with encoding/json in place
// of goccy: see canonical.MarshalOnce.
func experimentID(hashed *Spec) (string, error) {
	b, err := CanonicalOnce(hashed)
	if err != nil {
		return "", err
	}
	return HashBytesID("exp", b), nil
}

// HashBytesID is HashID over bytes that are already canonical.
func HashBytesID(prefix string, canonical []byte) string {
	sum := sha256.Sum256(canonical)
	// Built in one buffer: IDs are made on every call's path.
	var b [32]byte
	id := append(b[:0], prefix...)
	id = append(id, '_')
	id = hex.AppendEncode(id, sum[:8])
	return string(id)
}
