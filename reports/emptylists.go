package reports

import (
	"reflect"
	"strings"
)

// emptyLists sets every nil slice reachable from v (through pointers,
// structs, slices and maps of pointers) to an empty one, unless its field
// is omitempty, so the JSON reports write reads [] where a list has no
// entries: a consumer (jq, a script) can iterate it without a null check.
// Byte slices (raw JSON) are left alone.
func emptyLists(v any) {
	fill(reflect.ValueOf(v), map[uintptr]bool{})
}

func fill(v reflect.Value, seen map[uintptr]bool) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() || seen[v.Pointer()] {
			return
		}
		seen[v.Pointer()] = true
		fill(v.Elem(), seen)
	case reflect.Interface:
		if !v.IsNil() && v.Elem().Kind() == reflect.Pointer {
			fill(v.Elem(), seen)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			fv := v.Field(i)
			if fv.Kind() == reflect.Slice && fv.IsNil() && fv.CanSet() && !strings.Contains(tag, "omitempty") && fv.Type().Elem().Kind() != reflect.Uint8 {
				fv.Set(reflect.MakeSlice(fv.Type(), 0, 0))
				continue
			}
			fill(fv, seen)
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return
		}
		for i := range v.Len() {
			fill(v.Index(i), seen)
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if it.Value().Kind() == reflect.Pointer {
				fill(it.Value(), seen)
			}
		}
	}
}
