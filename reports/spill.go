package reports

import (
	"bufio"
	"errors"
	"io"
	"os"
)

// spool holds a document's body in a temporary file while the head, which
// counts what the body holds, waits for the end of the stream.
type spool struct {
	f *os.File
	*bufio.Writer
}

func newSpool() (*spool, error) {
	f, err := os.CreateTemp("", "selfevals-report-")
	if err != nil {
		return nil, err
	}
	return &spool{f: f, Writer: bufio.NewWriterSize(f, 64<<10)}, nil
}

// CopyTo writes head, the body and tail to w.
func (s *spool) CopyTo(w io.Writer, head, tail []byte) error {
	if err := s.Flush(); err != nil {
		return err
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if _, err := w.Write(head); err != nil {
		return err
	}
	if _, err := io.Copy(w, s.f); err != nil {
		return err
	}
	_, err := w.Write(tail)
	return err
}

// Close removes the file.
func (s *spool) Close() error {
	return errors.Join(s.f.Close(), os.Remove(s.f.Name()))
}
