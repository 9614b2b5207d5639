package reports

import (
	"cmp"
	"encoding/binary"
	"errors"
	"math"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/extsort"
	"github.com/selfevals/selfevals/repo/runstore"
)

// caseResult is one case of one iteration: the first repetition in full,
// the others counted.
type caseResult struct {
	ID, Name    string
	Label       repo.Label // the first repetition's, as in results/<slug>/cases.jsonl
	Score       float64
	Grades      []repo.Grade
	Output      string
	Error       string
	ErrorKind   string
	LatencyMS   float64
	Repetitions int
	Passes      int
}

// keptOutput is how much of an output the reports show (the HTML's longest
// cut); the rest is dropped as results are read, so what is sorted stays
// small.
const keptOutput = 2000

// caseOptions says what eachIterationCase does beyond reading results.
type caseOptions struct {
	// uniqueNames suffixes a case name that several cases of the dataset
	// share with the case's ID (JUnit reporters key on names).
	uniqueNames bool
	// budget is the bytes held in memory before sorting spills to disk;
	// zero is extsort.Budget.
	budget int
}

// Record kinds in the sort: a case's name sorts before its results, as it
// is added first.
const (
	recName byte = iota
	recResult
)

// eachIterationCase streams the results of one iteration of a run to fn,
// one entry per case in case ID order, with the case names from the run's
// spec when it still loads. results.jsonl is read once, in file order
// (the order calls finished); the results are sorted by case ID with a
// bounded buffer that spills to temporary files, so memory does not grow
// with the run.
func eachIterationCase(rs *repo.RunSummary, runDir string, iteration int, opts caseOptions, fn func(*caseResult) error) error {
	sorter := extsort.NewSorter(cmp.Or(opts.budget, extsort.Budget))
	defer sorter.Close()
	if err := addCaseNames(rs, sorter, opts); err != nil {
		return err
	}
	var buf []byte
	err := runstore.At(runDir).Results(func(r *repo.Result) error {
		if r.Iteration != iteration {
			return nil
		}
		buf = encodeResult(buf[:0], r)
		return sorter.Add(r.CaseID, buf)
	})
	if err != nil {
		return err
	}
	return groupCases(sorter, fn)
}

// groupCases merges the sorted records of each case into a caseResult.
func groupCases(sorter *extsort.Sorter, fn func(*caseResult) error) error {
	var c *caseResult
	flush := func() error {
		if c == nil || c.Repetitions == 0 { // a name without results
			return nil
		}
		return fn(c)
	}
	err := sorter.Each(func(key string, val []byte) error {
		if c == nil || c.ID != key {
			if err := flush(); err != nil {
				return err
			}
			c = &caseResult{ID: key, Name: key}
		}
		return c.add(val)
	})
	if err != nil {
		return err
	}
	return flush()
}

// add folds one sorted record into c: a name, or a repetition's result.
func (c *caseResult) add(val []byte) error {
	d := recDecoder{b: val}
	switch d.byte() {
	case recName:
		c.Name = d.string()
		return d.err
	case recResult:
	default:
		return errors.New("reading a sort file: unknown record")
	}
	rep, label := d.uvarint(), repo.Label(d.string())
	c.Repetitions++
	if label == repo.Pass {
		c.Passes++
	}
	if rep == 0 || c.Repetitions == 1 {
		c.Label = label
		c.Score, c.LatencyMS = d.float(), d.float()
		c.Output, c.Error, c.ErrorKind = d.string(), d.string(), d.string()
		c.Grades = make([]repo.Grade, d.count())
		for i := range c.Grades {
			g := &c.Grades[i]
			g.Grader, g.Label, g.Reason = d.string(), repo.Label(d.string()), d.string()
			if n := d.count(); n > 0 {
				g.FailureModes = make([]string, n)
				for j := range g.FailureModes {
					g.FailureModes[j] = d.string()
				}
			}
		}
	}
	return d.err
}

// encodeResult appends the part of a result the reports show.
func encodeResult(b []byte, r *repo.Result) []byte {
	b = append(b, recResult)
	b = binary.AppendUvarint(b, uint64(r.Repetition))
	b = appendString(b, string(r.Label))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(r.Score))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(r.LatencyMS))
	b = appendString(b, ellipsize(r.Output, keptOutput, keptOutput))
	b = appendString(b, r.Error)
	b = appendString(b, r.ErrorKind)
	b = binary.AppendUvarint(b, uint64(len(r.Grades)))
	for _, g := range r.Grades {
		b = appendString(b, g.Grader)
		b = appendString(b, string(g.Label))
		b = appendString(b, g.Reason)
		b = binary.AppendUvarint(b, uint64(len(g.FailureModes)))
		for _, m := range g.FailureModes {
			b = appendString(b, m)
		}
	}
	return b
}

// addCaseNames adds the name of each case of the run's spec (when it still
// loads) to the sort, ahead of the results. With uniqueNames the names are
// sorted by name first, to find those several cases share.
func addCaseNames(rs *repo.RunSummary, sorter *extsort.Sorter, opts caseOptions) error {
	if rs.SpecPath == "" {
		return nil
	}
	ls, err := repo.LoadExperiment(rs.SpecPath, repo.LoadOptions{})
	if err != nil {
		return nil // the report shows IDs
	}
	addName := func(id, name string) error { return sorter.Add(id, appendString([]byte{recName}, name)) }
	if !opts.uniqueNames {
		return ls.Dataset.Each(func(c *repo.Case) error {
			if c.Name == "" {
				return nil
			}
			return addName(c.ID, c.Name)
		})
	}
	byName := extsort.NewSorter(cmp.Or(opts.budget, extsort.Budget))
	defer byName.Close()
	err = ls.Dataset.Each(func(c *repo.Case) error {
		if c.Name == "" {
			return nil
		}
		return byName.Add(c.Name, []byte(c.ID))
	})
	if err != nil {
		return err
	}
	return eachGroup(byName, func(name string, ids [][]byte) error {
		for _, id := range ids {
			shown := name
			if len(ids) > 1 && name != string(id) {
				shown += " [" + string(id) + "]"
			}
			if err := addName(string(id), shown); err != nil {
				return err
			}
		}
		return nil
	})
}

// eachGroup calls fn with each key and the values sorted under it. A group
// is held in memory: it is for keys few records share (a name).
func eachGroup(s *extsort.Sorter, fn func(key string, vals [][]byte) error) error {
	var key string
	var vals [][]byte
	err := s.Each(func(k string, v []byte) error {
		if len(vals) > 0 && k != key {
			if err := fn(key, vals); err != nil {
				return err
			}
			vals = vals[:0]
		}
		key = k
		vals = append(vals, v)
		return nil
	})
	if err != nil || len(vals) == 0 {
		return err
	}
	return fn(key, vals)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// recDecoder reads what encodeResult wrote; the first problem sticks.
type recDecoder struct {
	b   []byte
	err error
}

var errShortRecord = errors.New("reading a sort file: short record")

func (d *recDecoder) byte() byte {
	if len(d.b) < 1 {
		d.err = errShortRecord
		return 0xff
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *recDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errShortRecord
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length, no more than the bytes left could hold.
func (d *recDecoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err = errShortRecord
		return 0
	}
	return int(n)
}

func (d *recDecoder) float() float64 {
	if len(d.b) < 8 {
		d.err = errShortRecord
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}

func (d *recDecoder) string() string {
	n := d.uvarint()
	if uint64(len(d.b)) < n {
		d.err = errShortRecord
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
