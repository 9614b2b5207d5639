package tracefile

import (
	"sync"

	"github.com/klauspost/compress/zstd"
	parquetzstd "github.com/parquet-go/parquet-go/compress/zstd"
)

// traceWindow is the zstd window of traces.parquet's pages. parquet-go
// compresses each page on its own, and pages are about 256 KiB, so a larger
// window finds nothing more; zstd's default of 8 MiB is allocated (and
// zeroed) for every encoder, which on a 20,000-call run was the largest
// object of the heap.
const traceWindow = 256 << 10

// traceCodec is zstd at its fastest level with the page-sized window. Its
// encoders are kept for the writer's life: parquet-go's own codec keeps
// them in a pool that each garbage collection empties.
type traceCodec struct {
	parquetzstd.Codec // name, format code and decoding; Encode is ours

	mu   sync.Mutex
	free []*zstd.Encoder
}

func newTraceCodec() *traceCodec { return &traceCodec{} }

// Encode compresses one page; it is safe for concurrent use.
func (c *traceCodec) Encode(dst, src []byte) ([]byte, error) {
	e, err := c.encoder()
	if err != nil {
		return nil, err
	}
	out := e.EncodeAll(src, dst[:0])
	c.mu.Lock()
	c.free = append(c.free, e)
	c.mu.Unlock()
	return out, nil
}

func (c *traceCodec) encoder() (*zstd.Encoder, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.free); n > 0 {
		e := c.free[n-1]
		c.free = c.free[:n-1]
		return e, nil
	}
	return zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(traceWindow),
		zstd.WithZeroFrames(true),
		zstd.WithEncoderCRC(false),
	)
}
