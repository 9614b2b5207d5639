package runner

import (
	"encoding/hex"
	"io"
	"strings"

	"github.com/selfevals/selfevals/repo"
)

// writeCaseVerdicts streams an iteration's cases.jsonl to w: one verdict
// a line, in case ID order, each with its case's name and definition hash.
// Nothing per case is held but what caseInfo keeps.
func writeCaseVerdicts(w io.Writer, ds *repo.Dataset, agg *Aggregator) error {
	info, err := caseInfoOf(ds)
	if err != nil {
		return err
	}
	return writeCaseVerdictsWith(w, info, agg)
}

// caseInfoOf is what writeCaseVerdictsWith needs of ds: nil when every
// case's definition hash is its ID.
func caseInfoOf(ds *repo.Dataset) (*caseInfo, error) {
	if ds.DefinitionsAreIDs() {
		return nil, nil
	}
	return collectCaseInfo(ds)
}

// writeCaseVerdictsWith is writeCaseVerdicts with the cases' names and
// definitions gathered already (caseInfoOf), for writing more than once.
func writeCaseVerdictsWith(w io.Writer, info *caseInfo, agg *Aggregator) error {
	buf := make([]byte, 0, 64<<10)
	err := agg.EachVerdict(func(v *repo.CaseVerdict) error {
		if info == nil {
			v.Definition = repo.DefinitionOfID(v.CaseID)
		} else {
			info.fill(v)
		}
		var err error
		if buf, err = repo.AppendCaseVerdict(buf, v); err != nil {
			return err
		}
		if len(buf) >= 48<<10 {
			_, err = w.Write(buf)
			buf = buf[:0]
		}
		return err
	})
	if err != nil {
		return err
	}
	_, err = w.Write(buf)
	return err
}

// caseInfo is each case's name and definition hash by its rank in the
// dataset's index, gathered in one pass over the file (which need not be
// in ID order): 8 bytes a case for the hash, names back to back.
type caseInfo struct {
	index *repo.CaseIndex
	has   bitset
	defs  [][8]byte
	// Names: names[nameAt[r]:nameAt[r]+nameLen[r]]; nil when none has one.
	names           []byte
	nameAt, nameLen []uint32
	odd             map[int]string // a definition not of the usual form
}

const defPrefix = "def_"

func collectCaseInfo(ds *repo.Dataset) (*caseInfo, error) {
	x := ds.Index()
	ci := &caseInfo{index: x, has: newBitset(x.Len()), defs: make([][8]byte, x.Len())}
	err := ds.Each(func(c *repo.Case) error {
		r, ok := x.Rank(c.ID)
		if !ok {
			return nil
		}
		ci.has.set(r)
		def := repo.CaseDefinition(c)
		if hexPart, ok := strings.CutPrefix(def, defPrefix); !ok || len(hexPart) != 16 || hexUpper(hexPart) {
			ci.setOdd(r, def)
		} else if _, err := hex.Decode(ci.defs[r][:], []byte(hexPart)); err != nil {
			ci.setOdd(r, def)
		}
		if c.Name != "" {
			if ci.nameAt == nil {
				ci.nameAt, ci.nameLen = make([]uint32, x.Len()), make([]uint32, x.Len())
			}
			ci.nameAt[r], ci.nameLen[r] = uint32(len(ci.names)), uint32(len(c.Name))
			ci.names = append(ci.names, c.Name...)
		}
		return nil
	})
	return ci, err
}

// hexUpper reports whether s has an upper-case hex digit, which would
// not come back from hex.Encode.
func hexUpper(s string) bool { return strings.ContainsAny(s, "ABCDEF") }

func (ci *caseInfo) setOdd(r int, def string) {
	if ci.odd == nil {
		ci.odd = map[int]string{}
	}
	ci.odd[r] = def
}

// fill sets v's name and definition, when its case is in the dataset.
func (ci *caseInfo) fill(v *repo.CaseVerdict) {
	r, ok := ci.index.Rank(v.CaseID)
	if !ok || !ci.has.get(r) {
		return
	}
	if def, ok := ci.odd[r]; ok {
		v.Definition = def
	} else {
		v.Definition = defPrefix + hex.EncodeToString(ci.defs[r][:])
	}
	if ci.nameAt != nil && ci.nameLen[r] > 0 {
		v.Name = string(ci.names[ci.nameAt[r] : ci.nameAt[r]+ci.nameLen[r]])
	}
}
