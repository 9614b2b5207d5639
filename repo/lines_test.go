package repo

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestEachLine(t *testing.T) {
	long := strings.Repeat("x", 300<<10) // longer than the reader's buffer
	in := "a\n\n" + long + "\ntorn"
	var got []string
	err := EachLine(strings.NewReader(in), func(line []byte, n int, off int64, complete bool) error {
		got = append(got, fmt.Sprintf("%d@%d:%d:%v", n, off, len(line), complete))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("1@0:1:true 2@2:0:true 3@3:%d:true 4@%d:4:false", len(long), 4+len(long))
	if strings.Join(got, " ") != want {
		t.Errorf("got  %s\nwant %s", strings.Join(got, " "), want)
	}
	stop := errors.New("stop")
	if err := EachLine(strings.NewReader("a\nb\n"), func([]byte, int, int64, bool) error { return stop }); err != stop {
		t.Errorf("fn's error not returned: %v", err)
	}
}
