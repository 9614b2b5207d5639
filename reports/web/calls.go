package web

import (
	"errors"
	"io/fs"
	"net/http"
	"sort"
	"strconv"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"
)

// Pages of calls. A run's results are read through its index
// (runstore.ResultIndex): a page decodes the lines it shows, and a count
// comes from the index's table. A live run's lines past the index (at most
// a few MiB: the index is extended past that) are read on each request.

// Paging limits: a page shows defaultLimit calls unless asked for up to
// maxLimit.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// CallsPage is a page of a run's calls (/api/runs/<run>/calls, and the
// calls of /api/iterations/<id>).
type CallsPage struct {
	RunID     string     `json:"run_id"`
	Iteration *int       `json:"iteration,omitempty"`
	Order     string     `json:"order"` // newest_first or oldest_first
	Total     int        `json:"total"`
	Offset    int        `json:"offset"`
	Limit     int        `json:"limit"`
	Calls     []CallView `json:"calls"`
}

// paging reads offset and limit from a request's query.
func paging(r *http.Request) (offset, limit int, err error) {
	q := r.URL.Query()
	offset, limit = 0, defaultLimit
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			return 0, 0, badRequest("offset must be a number ≥ 0, got %q", v)
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxLimit {
			return 0, 0, badRequest("limit must be a number from 1 to %d, got %q", maxLimit, v)
		}
	}
	return offset, limit, nil
}

// withIndex opens a run's results through its index for fn; a run with no
// results.jsonl yet gives fn nil.
func withIndex(dir string, fn func(*runstore.ResultIndex) error) error {
	ix, err := runstore.At(dir).OpenResultIndex()
	if errors.Is(err, fs.ErrNotExist) {
		return fn(nil)
	}
	if err != nil {
		return err
	}
	defer ix.Close()
	return fn(ix)
}

// runResults is a run's results as one sequence in file order: the
// indexed ones, then the tail (of one iteration when it is set).
type runResults struct {
	ix        *runstore.ResultIndex // nil: no results.jsonl
	iteration *int
	indexed   int
	tail      []*repo.Result
	tailEnd   int64 // just past the tail's last complete line
}

func newRunResults(ix *runstore.ResultIndex, iteration *int) (*runResults, error) {
	rr := &runResults{ix: ix, iteration: iteration}
	if ix == nil {
		return rr, nil
	}
	rr.indexed = ix.Len()
	if iteration != nil {
		rr.indexed = ix.Iteration(*iteration).Calls
	}
	end, err := ix.EachTail(func(r *repo.Result) error {
		if iteration == nil || r.Iteration == *iteration {
			rr.tail = append(rr.tail, r)
		}
		return nil
	})
	rr.tailEnd = end
	return rr, err
}

func (rr *runResults) len() int { return rr.indexed + len(rr.tail) }

// at is the p-th result in file order; nil for a line that no longer
// decodes (a page shows what it can of a damaged run).
func (rr *runResults) at(p int) (*repo.Result, error) {
	if p >= rr.indexed {
		return rr.tail[p-rr.indexed], nil
	}
	ord := p
	if rr.iteration != nil {
		var err error
		if ord, err = rr.ix.InIteration(*rr.iteration, p); err != nil || ord < 0 {
			return nil, err
		}
	}
	r, err := rr.ix.At(ord)
	if err != nil {
		return nil, nil
	}
	return r, nil
}

// page calls fn with the results of one page, newest or oldest first.
func (rr *runResults) page(offset, limit int, newestFirst bool, fn func(*repo.Result)) error {
	total := rr.len()
	for k := offset; k < offset+limit && k < total; k++ {
		p := k
		if newestFirst {
			p = total - 1 - k
		}
		r, err := rr.at(p)
		if err != nil {
			return err
		}
		if r != nil {
			fn(r)
		}
	}
	return nil
}

// labels counts the results by label.
func (rr *runResults) labels() map[string]int {
	out := map[string]int{}
	if rr.ix != nil {
		for _, c := range rr.ix.Iterations() {
			if rr.iteration != nil && c.Iteration != *rr.iteration {
				continue
			}
			for l, n := range c.Labels {
				out[l] += n
			}
		}
	}
	for _, r := range rr.tail {
		out[string(r.Label)]++
	}
	return out
}

// callsPage is a page of a run's calls.
func (s *Server) callsPage(dir, runID string, iteration *int, offset, limit int, newestFirst bool) (*CallsPage, error) {
	p := &CallsPage{RunID: runID, Iteration: iteration, Offset: offset, Limit: limit, Order: "oldest_first", Calls: []CallView{}}
	if newestFirst {
		p.Order = "newest_first"
	}
	err := withIndex(dir, func(ix *runstore.ResultIndex) error {
		rr, err := newRunResults(ix, iteration)
		if err != nil {
			return err
		}
		p.Total = rr.len()
		return rr.page(offset, limit, newestFirst, func(r *repo.Result) { p.Calls = append(p.Calls, callView(runID, r)) })
	})
	return p, err
}

// apiRunCalls is /api/runs/<run>/calls: a page of the run's calls, newest
// first (?iteration=N for one iteration's, ?order=oldest_first).
func (s *Server) apiRunCalls(r *http.Request) (any, error) {
	dir, man, err := s.runDir(r.PathValue("run"))
	if err != nil {
		return nil, err
	}
	offset, limit, err := paging(r)
	if err != nil {
		return nil, err
	}
	var iteration *int
	if v := r.URL.Query().Get("iteration"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, badRequest("iteration must be a number ≥ 0, got %q", v)
		}
		iteration = &n
	}
	newest := true
	switch o := r.URL.Query().Get("order"); o {
	case "", "newest_first":
	case "oldest_first":
		newest = false
	default:
		return nil, badRequest("order must be newest_first or oldest_first, got %q", o)
	}
	return s.callsPage(dir, man.RunID, iteration, offset, limit, newest)
}

// resultByTrace finds a result by trace ID in one run: the index, then a
// live run's tail.
func resultByTrace(dir, id string) (*repo.Result, error) {
	var found *repo.Result
	err := withIndex(dir, func(ix *runstore.ResultIndex) error {
		if ix == nil {
			return nil
		}
		r, err := ix.ByTrace(id)
		if err != nil || r != nil {
			found = r
			return err
		}
		return eachTail(ix, func(r *repo.Result) bool {
			if r.ID == id {
				found = r
				return false
			}
			return true
		})
	})
	return found, err
}

// resultsOfCases streams the results of the given cases in one run, in
// file order: the index's (by case), then the tail's.
func resultsOfCases(dir string, caseIDs []string, fn func(*repo.Result)) error {
	return withIndex(dir, func(ix *runstore.ResultIndex) error {
		if ix == nil {
			return nil
		}
		type hit struct {
			ord int
			r   *repo.Result
		}
		var hits []hit
		want := map[string]bool{}
		for _, id := range caseIDs {
			want[id] = true
			if err := ix.ByCase(id, func(ord int, r *repo.Result) bool { hits = append(hits, hit{ord, r}); return true }); err != nil {
				return err
			}
		}
		sort.Slice(hits, func(a, b int) bool { return hits[a].ord < hits[b].ord })
		for _, h := range hits {
			fn(h.r)
		}
		return eachTail(ix, func(r *repo.Result) bool {
			if want[r.CaseID] {
				fn(r)
			}
			return true
		})
	})
}

// eachTail streams the results past the index until fn returns false.
func eachTail(ix *runstore.ResultIndex, fn func(*repo.Result) bool) error {
	_, err := ix.EachTail(func(r *repo.Result) error {
		if !fn(r) {
			return errFound
		}
		return nil
	})
	if errors.Is(err, errFound) || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
