package reports

import (
	"errors"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/paired"
)

// maxDiffCases caps each per-case list of a diff (the first cases by ID);
// CaseDiff.Counts has every group's size. A diff of two runs of a million
// cases stays a page, not the cases twice over.
const maxDiffCases = 1000

// CaseCounts is the size of each group of a CaseDiff, listed or not.
type CaseCounts struct {
	Regressed    int `json:"regressed"`
	Fixed        int `json:"fixed"`
	StillFailing int `json:"still_failing"`
	New          int `json:"new"`
	Removed      int `json:"removed"`
	Edited       int `json:"definition_changed"`
	Renamed      int `json:"renamed"`
}

// total is a group's size: its count, or the length of its list in a
// diff built without counts.
func (cd *CaseDiff) total(list []CaseChange, count int) int { return max(len(list), count) }

// errUnsorted stops a merge of a cases.jsonl that is not in case ID order
// (edited by hand): that side is then read whole and sorted.
var errUnsorted = errors.New("cases.jsonl is not sorted by case ID")

var errMergeStopped = errors.New("merge stopped")

// verdicts streams the side's committed verdicts in file order, failing
// with errUnsorted at the first one out of ID order. Lines that are not
// verdicts are warnings, once the stream ends.
func (s *side) verdicts(errp *error) iter.Seq[*repo.CaseVerdict] {
	return func(yield func(*repo.CaseVerdict) bool) {
		if s.casesPath == "" {
			return
		}
		fsys, name := s.rev.Tree, s.casesPath
		if s.spooled != "" {
			fsys, name = os.DirFS(filepath.Dir(s.spooled)), filepath.Base(s.spooled)
		}
		prev := ""
		err := repo.EachCaseVerdictFS(fsys, name, func(v *repo.CaseVerdict) error {
			if v.CaseID < prev {
				return errUnsorted
			}
			prev = v.CaseID
			if !yield(v) {
				return errMergeStopped
			}
			return nil
		})
		if errors.Is(err, errMergeStopped) || errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
		if err != nil && !errors.Is(err, errUnsorted) {
			err = s.warn(err)
		}
		*errp = err
	}
}

// spool copies the side's cases.jsonl at a commit to a temporary file.
// Git's reader holds a blob whole while it is open: merging two committed
// files would hold both, and the copy keeps that to one.
func (s *side) spool() error {
	if s.casesPath == "" || s.rev.Commit == "" {
		return nil // absent, or in the working tree: read as it streams
	}
	src, err := s.rev.Tree.Open(s.casesPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.CreateTemp("", "selfevals-cases-")
	if err != nil {
		return err
	}
	_, err = io.Copy(dst, src)
	if err = errors.Join(err, dst.Close()); err != nil {
		os.Remove(dst.Name())
		return err
	}
	s.spooled = dst.Name()
	return nil
}

func (s *side) unspool() {
	if s.spooled != "" {
		os.Remove(s.spooled)
		s.spooled = ""
	}
}

// sortedVerdicts reads the side's verdicts whole, sorted (the fallback
// for a file out of order).
func (s *side) sortedVerdicts() (iter.Seq[*repo.CaseVerdict], error) {
	if s.casesPath == "" {
		return func(func(*repo.CaseVerdict) bool) {}, nil
	}
	vs, err := repo.LoadCaseVerdictsFS(s.rev.Tree, s.casesPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		if err := s.warn(err); err != nil {
			return nil, err
		}
	}
	return func(yield func(*repo.CaseVerdict) bool) {
		for i := range vs {
			if !yield(&vs[i]) {
				return
			}
		}
	}, nil
}

// classification is classifyCases' result.
type classification struct {
	cases          CaseDiff
	pairsA, pairsB []repo.CasePair
	// same: the two results hold the same verdicts (or neither has any).
	same bool
}

// classifySides merges the two sides' committed verdicts, streamed, into
// case groups; a side whose file is out of order is read whole instead.
func classifySides(a, b *side, ds *DatasetDiff) (classification, error) {
	if err := a.spool(); err != nil {
		return classification{}, err
	}
	defer a.unspool()
	var errA, errB error
	c := classifyCases(a.verdicts(&errA), b.verdicts(&errB), ds)
	if err := errors.Join(errA, errB); !errors.Is(err, errUnsorted) {
		return c, err
	}
	sa, err := a.sortedVerdicts()
	if err != nil {
		return c, err
	}
	sb, err := b.sortedVerdicts()
	if err != nil {
		return c, err
	}
	return classifyCases(sa, sb, ds), nil
}

// classifyCases merge-joins two verdict streams in case ID order into case
// groups and the outcomes the paired statistics compare, holding neither
// side: a case is paired with itself by ID when its recorded definition is
// unchanged (or unknown: results written before definitions were
// recorded), else by an unchanged definition under a new name or ID. Cases
// left (only these are held) are matched into definition changes (by the
// dataset's edits, then by a name unique on both sides), so an edited case
// is never a regression or a fix.
func classifyCases(seqA, seqB iter.Seq[*repo.CaseVerdict], ds *DatasetDiff) classification {
	k := classifier{same: true}
	nextA, stopA := iter.Pull(seqA)
	defer stopA()
	nextB, stopB := iter.Pull(seqB)
	defer stopB()
	va, okA := nextA()
	vb, okB := nextB()
	for okA || okB {
		switch {
		case !okB || (okA && va.CaseID < vb.CaseID):
			k.onlyA = append(k.onlyA, *va)
			va, okA = nextA()
		case !okA || vb.CaseID < va.CaseID:
			k.onlyB = append(k.onlyB, *vb)
			vb, okB = nextB()
		default:
			if redefined(va, vb) {
				k.edited = append(k.edited, [2]repo.CaseVerdict{*va, *vb})
			} else {
				k.same = k.same && reflect.DeepEqual(va, vb)
				k.pair(va, vb)
			}
			va, okA = nextA()
			vb, okB = nextB()
		}
	}
	k.same = k.same && len(k.onlyA) == 0 && len(k.onlyB) == 0 && len(k.edited) == 0
	k.matchLeft(ds)
	return k.result()
}

type classifier struct {
	cd             CaseDiff
	pairsA, pairsB []repo.CasePair
	ids            []string // the case ID at A of each pair
	onlyA, onlyB   []repo.CaseVerdict
	edited         [][2]repo.CaseVerdict
	late           bool // pairs were added out of ID order
	same           bool
}

// pair counts a case paired at A and B under its outcome.
func (k *classifier) pair(a, b *repo.CaseVerdict) {
	pa, pb := paired.FromVerdicts([]repo.CaseVerdict{*a}).List[0], paired.FromVerdicts([]repo.CaseVerdict{*b}).List[0]
	if n := len(k.ids); n > 0 && a.CaseID < k.ids[n-1] {
		k.late = true
	}
	// The key both outcome lists share, copied: the decoder's string may
	// hold the whole line it came from.
	k.ids = append(k.ids, strings.Clone(a.CaseID))
	k.pairsA, k.pairsB = append(k.pairsA, pa), append(k.pairsB, pb)
	change := func() CaseChange {
		av, bv := *a, *b
		ch := CaseChange{ID: b.CaseID, Name: firstNonEmpty(b.Name, a.Name), A: &av, B: &bv}
		if a.CaseID != b.CaseID {
			ch.PreviousID = a.CaseID
		}
		return ch
	}
	if a.CaseID != b.CaseID || a.Name != b.Name {
		if k.cd.Counts.Renamed++; len(k.cd.Renamed) < maxDiffCases || a.CaseID != b.CaseID {
			k.cd.Renamed = append(k.cd.Renamed, change())
		}
	}
	list := func(l *[]CaseChange, n *int) {
		if *n++; len(*l) < maxDiffCases || a.CaseID != b.CaseID {
			*l = append(*l, change())
		}
	}
	passA, passB := a.Label == repo.Pass, b.Label == repo.Pass
	switch {
	case passA && passB:
		k.cd.UnchangedPassing++
	case passA:
		list(&k.cd.Regressed, &k.cd.Counts.Regressed)
	case passB:
		list(&k.cd.Fixed, &k.cd.Counts.Fixed)
	default:
		list(&k.cd.StillFailing, &k.cd.Counts.StillFailing)
	}
}

// matchLeft pairs the cases only one side has: the same definition, unique
// on each side, under another name or ID is the same case; the dataset's
// edits and then names unique on each side are definition changes; the
// rest are new or removed.
func (k *classifier) matchLeft(ds *DatasetDiff) {
	a, b := k.onlyA, k.onlyB
	matchedA := map[int]int{} // edited: index in a → index in b
	matchedB := map[int]bool{}
	defsA, defsB := map[string][]int{}, map[string][]int{}
	for x := range a {
		if d := a[x].Definition; d != "" {
			defsA[d] = append(defsA[d], x)
		}
	}
	for y := range b {
		if d := b[y].Definition; d != "" {
			defsB[d] = append(defsB[d], y)
		}
	}
	renamedA := map[int]bool{}
	for d, xs := range defsA {
		if ys := defsB[d]; len(xs) == 1 && len(ys) == 1 {
			k.pair(&a[xs[0]], &b[ys[0]])
			renamedA[xs[0]], matchedB[ys[0]] = true, true
		}
	}
	if ds != nil && len(ds.Edited) > 0 && len(a) > 0 && len(b) > 0 {
		posA := make(map[string]int, len(a))
		for x := range a {
			if !renamedA[x] {
				posA[a[x].CaseID] = x
			}
		}
		posB := make(map[string]int, len(b))
		for y := range b {
			if !matchedB[y] {
				posB[b[y].CaseID] = y
			}
		}
		for _, ed := range ds.Edited {
			x, okA := posA[ed.From]
			y, okB := posB[ed.To]
			if okA && okB && !matchedB[y] {
				matchedA[x], matchedB[y] = y, true
			}
		}
	}
	// Names unique among the unmatched cases of each side.
	namesA, namesB := map[string][]int{}, map[string][]int{}
	for x := range a {
		if _, done := matchedA[x]; !done && !renamedA[x] && a[x].Name != "" {
			namesA[a[x].Name] = append(namesA[a[x].Name], x)
		}
	}
	for y := range b {
		if !matchedB[y] && b[y].Name != "" {
			namesB[b[y].Name] = append(namesB[b[y].Name], y)
		}
	}
	for name, xs := range namesA {
		if ys := namesB[name]; len(xs) == 1 && len(ys) == 1 {
			matchedA[xs[0]], matchedB[ys[0]] = ys[0], true
		}
	}
	for x, y := range matchedA {
		k.edited = append(k.edited, [2]repo.CaseVerdict{a[x], b[y]})
	}
	for x := range a {
		if _, ok := matchedA[x]; !ok && !renamedA[x] {
			k.cd.Removed = append(k.cd.Removed, CaseChange{ID: a[x].CaseID, Name: a[x].Name, A: &a[x]})
		}
	}
	for y := range b {
		if !matchedB[y] {
			k.cd.New = append(k.cd.New, CaseChange{ID: b[y].CaseID, Name: b[y].Name, B: &b[y]})
		}
	}
}

// result sorts and caps the lists.
func (k *classifier) result() classification {
	for _, e := range k.edited {
		a, b := e[0], e[1]
		ch := CaseChange{ID: b.CaseID, Name: firstNonEmpty(b.Name, a.Name), A: &a, B: &b}
		if a.CaseID != b.CaseID {
			ch.PreviousID = a.CaseID
		}
		k.cd.Edited = append(k.cd.Edited, ch)
	}
	cd := &k.cd
	cd.Counts.New, cd.Counts.Removed, cd.Counts.Edited = len(cd.New), len(cd.Removed), len(cd.Edited)
	for _, g := range []*[]CaseChange{&cd.Regressed, &cd.Fixed, &cd.StillFailing, &cd.Edited, &cd.Renamed, &cd.New, &cd.Removed} {
		sort.Slice(*g, func(i, j int) bool { return (*g)[i].ID < (*g)[j].ID })
		*g = (*g)[:min(len(*g), maxDiffCases)]
	}
	if k.late {
		sort.Sort(pairsByA{k.ids, k.pairsA, k.pairsB})
	}
	return classification{cases: k.cd, pairsA: k.pairsA, pairsB: k.pairsB, same: k.same}
}

// pairsByA orders the two outcome lists together by case ID at A.
type pairsByA struct {
	ids  []string
	a, b []repo.CasePair
}

func (p pairsByA) Len() int           { return len(p.a) }
func (p pairsByA) Less(i, j int) bool { return p.ids[i] < p.ids[j] }
func (p pairsByA) Swap(i, j int) {
	p.ids[i], p.ids[j] = p.ids[j], p.ids[i]
	p.a[i], p.a[j] = p.a[j], p.a[i]
	p.b[i], p.b[j] = p.b[j], p.b[i]
}
