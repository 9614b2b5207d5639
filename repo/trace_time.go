package repo

import "time"

// startedAtLayout is Trace.StartedAt's format: RFC 3339 in UTC with
// milliseconds.
const startedAtLayout = "2006-01-02T15:04:05.000Z07:00"

// FormatStartedAt writes t as Trace.StartedAt, without time.Format's
// layout parsing (it is on every call's path). ParseStartedAt reads it back.
func FormatStartedAt(t time.Time) string {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.Format(startedAtLayout)
	}
	hour, minute, sec := t.Clock()
	var b [24]byte
	digits := func(at, n, width int) {
		for i := at + width - 1; i >= at; i-- {
			b[i] = byte('0' + n%10)
			n /= 10
		}
	}
	digits(0, year, 4)
	b[4] = '-'
	digits(5, int(month), 2)
	b[7] = '-'
	digits(8, day, 2)
	b[10] = 'T'
	digits(11, hour, 2)
	b[13] = ':'
	digits(14, minute, 2)
	b[16] = ':'
	digits(17, sec, 2)
	b[19] = '.'
	digits(20, t.Nanosecond()/1e6, 3)
	b[23] = 'Z'
	return string(b[:])
}

// ParseStartedAt reads what FormatStartedAt writes, without time.Parse
// (traces.parquet's writer reads it for every call). Anything else,
// out-of-range fields included, is not ok and left to time.Parse.
func ParseStartedAt(s string) (time.Time, bool) {
	if len(s) != 24 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.' || s[23] != 'Z' {
		return time.Time{}, false
	}
	ok := true
	num := func(from, to int) int {
		n := 0
		for i := from; i < to; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				ok = false
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	year, month, day := num(0, 4), num(5, 7), num(8, 10)
	hour, minute, sec, milli := num(11, 13), num(14, 16), num(17, 19), num(20, 23)
	if !ok || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, milli*1e6, time.UTC)
	return t, t.Day() == day // else the day is past the month's end
}
