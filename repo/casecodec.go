package repo

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"unsafe"
)

// caseCodec writes a decoded case in a compact binary form and reads it
// back, several times faster than decoding its JSON line again: what a
// dataset's spill file holds (dataset_spill.go). It walks Case's exported
// fields by reflection, so a field added to Case is carried without a
// change here; a field of a kind it does not know panics when the codec
// is built, which TestCaseCodecRoundTrip catches.
//
// A struct is a uvarint mask of its fields that are set (non-empty
// strings, true, non-zero ints, non-nil pointers, slices and maps), then
// each of those: strings, byte slices and lists as a uvarint length then
// their contents, ints as varints, pointers as what they point to. Most
// cases set few fields, so few are visited. ID and Line are left out: the
// dataset's index and the record's header give them.
type caseCodec struct{ fields []codecField }

// codecField is one struct field: its index, and how its value is coded.
type codecField struct {
	index int
	op    codecOp
}

// codecOp codes one value of a known type.
type codecOp struct {
	kind   codecKind
	fields []codecField // of a struct, or of the struct a pointer points to
}

type codecKind uint8

const (
	kString codecKind = iota
	kBool
	kInt
	kIntPtr
	kBytes
	kStrings
	kIntMap
	kStruct
	kStructPtr
)

var (
	bytesType   = reflect.TypeFor[[]byte]()
	stringsType = reflect.TypeFor[[]string]()
	intMapType  = reflect.TypeFor[map[string]int]()
	intPtrType  = reflect.TypeFor[*int]()
)

// theCaseCodec is built once: it walks Case's type.
var theCaseCodec = sync.OnceValue(func() *caseCodec {
	t := reflect.TypeFor[Case]()
	var fields []codecField
	for _, f := range codecFields(t) {
		if name := t.Field(f.index).Name; name != "ID" && name != "Line" {
			fields = append(fields, f)
		}
	}
	return &caseCodec{fields: fields}
})

// codecFields is how each exported field of struct type t is coded.
func codecFields(t reflect.Type) []codecField {
	var out []codecField
	for i := range t.NumField() {
		f := t.Field(i)
		if f.IsExported() {
			out = append(out, codecField{index: i, op: codecOpOf(f.Type, t.Name()+"."+f.Name)})
		}
	}
	if len(out) > 64 {
		panic(fmt.Sprintf("caseCodec: %s has more fields than a mask holds", t))
	}
	return out
}

func codecOpOf(t reflect.Type, where string) codecOp {
	switch {
	case t.Kind() == reflect.String:
		return codecOp{kind: kString}
	case t.Kind() == reflect.Bool:
		return codecOp{kind: kBool}
	case t.Kind() == reflect.Int:
		return codecOp{kind: kInt}
	case t == intPtrType:
		return codecOp{kind: kIntPtr}
	case t.ConvertibleTo(bytesType) && t.Kind() == reflect.Slice:
		return codecOp{kind: kBytes}
	case t == stringsType:
		return codecOp{kind: kStrings}
	case t == intMapType:
		return codecOp{kind: kIntMap}
	case t.Kind() == reflect.Struct:
		return codecOp{kind: kStruct, fields: codecFields(t)}
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct:
		return codecOp{kind: kStructPtr, fields: codecFields(t.Elem())}
	}
	panic(fmt.Sprintf("caseCodec: %s has type %s, which it cannot code", where, t))
}

// append appends c's encoding to b.
func (cc *caseCodec) append(b []byte, c *Case) []byte {
	return appendFields(b, reflect.ValueOf(c).Elem(), cc.fields)
}

func appendFields(b []byte, v reflect.Value, fields []codecField) []byte {
	var set uint64
	for i, f := range fields {
		if !isEmpty(v.Field(f.index), f.op) {
			set |= 1 << i
		}
	}
	b = binary.AppendUvarint(b, set)
	for i, f := range fields {
		if set&(1<<i) != 0 {
			b = appendValue(b, v.Field(f.index), f.op)
		}
	}
	return b
}

// isEmpty is whether a field is left out of its struct's record: its
// zero value, which decoding leaves as it is.
func isEmpty(v reflect.Value, op codecOp) bool {
	switch op.kind {
	case kString:
		return v.Len() == 0
	case kBool:
		return !v.Bool()
	case kInt:
		return v.Int() == 0
	case kStruct:
		return v.IsZero()
	default: // pointers, slices, maps: nil, not empty, is left out
		return v.IsNil()
	}
}

// appendValue appends a value that is not empty.
func appendValue(b []byte, v reflect.Value, op codecOp) []byte {
	switch op.kind {
	case kString:
		s := v.String()
		return append(binary.AppendUvarint(b, uint64(len(s))), s...)
	case kBool:
		return b // set, so true
	case kInt:
		return binary.AppendVarint(b, v.Int())
	case kIntPtr:
		return binary.AppendVarint(b, v.Elem().Int())
	case kBytes:
		return append(binary.AppendUvarint(b, uint64(v.Len())), v.Bytes()...)
	case kStrings:
		b = binary.AppendUvarint(b, uint64(v.Len()))
		// Read through the field's address: v.Interface() would
		// allocate to box the slice.
		for _, s := range *(*[]string)(v.Addr().UnsafePointer()) {
			b = append(binary.AppendUvarint(b, uint64(len(s))), s...)
		}
		return b
	case kIntMap:
		m := v.Interface().(map[string]int)
		b = binary.AppendUvarint(b, uint64(len(m)))
		for k, n := range m {
			b = binary.AppendVarint(append(binary.AppendUvarint(b, uint64(len(k))), k...), int64(n))
		}
		return b
	case kStruct:
		return appendFields(b, v, op.fields)
	default: // kStructPtr
		return appendFields(b, v.Elem(), op.fields)
	}
}

// errBadRecord is a spill record that does not decode: the file was
// damaged or cut short.
var errBadRecord = errors.New("bad case record")

// codecReader reads values from one record. The strings and byte
// slices it sets share the record's memory, which is the case's own (one
// allocation per record instead of one per text) and never written again.
type codecReader struct {
	b   []byte
	err error
}

// decode sets c, a zero Case, from a record that append wrote. c keeps
// b: the caller must not reuse it.
func (cc *caseCodec) decode(b []byte, c *Case) error {
	r := codecReader{b: b}
	r.fields(reflect.ValueOf(c).Elem(), cc.fields)
	if r.err == nil && len(r.b) > 0 {
		r.err = errBadRecord
	}
	return r.err
}

func (r *codecReader) fields(v reflect.Value, fields []codecField) {
	set := r.uvarint()
	if set>>len(fields) != 0 {
		r.fail()
	}
	for i := 0; set != 0 && r.err == nil; i++ {
		if set&1 != 0 {
			r.value(v.Field(fields[i].index), fields[i].op)
		}
		set >>= 1
	}
}

func (r *codecReader) value(v reflect.Value, op codecOp) {
	switch op.kind {
	case kString:
		v.SetString(r.string())
	case kBool:
		v.SetBool(true)
	case kInt:
		v.SetInt(r.varint())
	case kIntPtr:
		n := int(r.varint())
		v.Set(reflect.ValueOf(&n))
	case kBytes:
		b := r.take(r.uvarint())
		v.SetBytes(b[:len(b):len(b)]) // an append copies, not overwrites
	case kStrings:
		n := r.uvarint()
		list := make([]string, 0, min(n, uint64(len(r.b))))
		for range n {
			list = append(list, r.string())
		}
		// Set through the field's address: a reflect.ValueOf(list)
		// would allocate the slice's header.
		*(*[]string)(v.Addr().UnsafePointer()) = list
	case kIntMap:
		n := r.uvarint()
		m := make(map[string]int, min(n, uint64(len(r.b))))
		for range n {
			k := r.string()
			m[k] = int(r.varint())
		}
		v.Set(reflect.ValueOf(m))
	case kStruct:
		r.fields(v, op.fields)
	default: // kStructPtr
		p := reflect.New(v.Type().Elem())
		r.fields(p.Elem(), op.fields)
		v.Set(p)
	}
}

func (r *codecReader) fail() {
	if r.err == nil {
		r.err = errBadRecord
	}
	r.b = nil
}

func (r *codecReader) uvarint() uint64 {
	x, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return x
}

func (r *codecReader) varint() int64 {
	x, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return x
}

func (r *codecReader) take(n uint64) []byte {
	if n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	x := r.b[:n]
	r.b = r.b[n:]
	return x
}

func (r *codecReader) string() string {
	b := r.take(r.uvarint())
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
