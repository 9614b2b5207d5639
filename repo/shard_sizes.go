package repo

// ShardSize is what one shard of a split run holds (`selfevals estimate
// --shard n`): its cases, and the turns of its longest thread, which run
// one after another in one slot and so bound its wall time from below.
type ShardSize struct {
	Cases         int
	LongestThread int
}

// ShardSizes splits the dataset n ways as `run --shard i/n` does (ShardOf)
// and says what each shard holds; index i-1 is shard i.
func (d *Dataset) ShardSizes(n int) ([]ShardSize, error) {
	if n < 1 {
		n = 1
	}
	sizes := make([]ShardSize, n)
	turns := map[string]int{}
	err := d.Each(func(c *Case) error {
		s := &sizes[ShardOf(c, n)-1]
		s.Cases++
		length := 1
		if c.ThreadID != "" {
			turns[c.ThreadID]++
			length = turns[c.ThreadID]
		}
		s.LongestThread = max(s.LongestThread, length)
		return nil
	})
	return sizes, err
}
