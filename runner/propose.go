package runner

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/goccy/go-json"

	"github.com/selfevals/selfevals/repo"
)

// Proposal is the next parameters to try and why.
type Proposal struct {
	Params     repo.Parameters
	Hypothesis string
}

// Proposer picks the next parameters to try. Next returns false when it has
// nothing left, with the reason in Exhausted.
type Proposer interface {
	Next(history []repo.IterationSummary) (Proposal, bool)
	Exhausted() string
}

// NewProposer builds the spec's proposer. Proposals are laid over the
// adopted parameters, so a sweep of temperature keeps the adopted
// max_tokens.
func NewProposer(e *repo.Experiment) (Proposer, error) {
	base := e.Parameters
	switch e.Proposer.Strategy {
	case "":
		return &manualProposer{base: base}, nil
	case "manual":
		return &manualProposer{base: base, list: e.Proposer.Parameters.Proposals}, nil
	case "grid":
		return newGrid(base, e.SearchSpace)
	case "random":
		seed := int64(0)
		if e.Proposer.Parameters.Seed != nil {
			seed = *e.Proposer.Parameters.Seed
		} else if e.Run.Seed != nil {
			seed = *e.Run.Seed
		}
		max := e.Proposer.Parameters.MaxProposals
		if max == 0 {
			max = 50
		}
		return &randomProposer{base: base, space: e.SearchSpace, max: max, rng: rand.New(rand.NewPCG(uint64(seed), 0x5e1fe7a1))}, nil
	}
	return nil, repo.Userf("unknown proposer strategy %q", e.Proposer.Strategy)
}

type manualProposer struct {
	base repo.Parameters
	list []repo.Parameters
	next int
}

func (m *manualProposer) Next([]repo.IterationSummary) (Proposal, bool) {
	if m.next >= len(m.list) {
		return Proposal{}, false
	}
	entry := m.list[m.next]
	m.next++
	hyp := fmt.Sprintf("manual[%d]", m.next-1)
	over := repo.Parameters{}
	for k, v := range entry {
		if k == "hypothesis" {
			if s, ok := v.(string); ok && s != "" {
				hyp = s
			}
			continue
		}
		over[k] = v
	}
	return Proposal{Params: overlay(m.base, over), Hypothesis: hyp}, true
}

func (m *manualProposer) Exhausted() string {
	if len(m.list) == 0 {
		return "no proposals: only the adopted parameters run"
	}
	return fmt.Sprintf("manual proposer exhausted after %d proposals", len(m.list))
}

// gridAxis is one key of the search space with the values it takes.
type gridAxis struct {
	block, key string
	values     []any
}

type gridProposer struct {
	base  repo.Parameters
	axes  []gridAxis
	total int
	next  int
}

func newGrid(base repo.Parameters, space repo.SearchSpace) (*gridProposer, error) {
	g := &gridProposer{base: base, total: 1}
	for _, b := range space.Surfaces() {
		for _, kv := range b.Entries {
			values := []any{kv.Value}
			switch x := kv.Value.(type) {
			case []any:
				values = x
			case map[string]any:
				if c, ok := x["choices"].([]any); ok {
					values = c
				}
			}
			g.axes = append(g.axes, gridAxis{block: b.Key, key: kv.Key, values: values})
			g.total *= len(values)
		}
	}
	if len(g.axes) == 0 {
		return nil, repo.Userf("the grid proposer needs a search_space")
	}
	return g, nil
}

// Next enumerates the cartesian product, keys in file order, last key
// fastest.
func (g *gridProposer) Next([]repo.IterationSummary) (Proposal, bool) {
	if g.next >= g.total {
		return Proposal{}, false
	}
	i := g.next
	g.next++
	over := repo.Parameters{}
	var parts []string
	idx := make([]int, len(g.axes))
	for a := len(g.axes) - 1; a >= 0; a-- {
		n := len(g.axes[a].values)
		idx[a] = i % n
		i /= n
	}
	for a, ax := range g.axes {
		v := ax.values[idx[a]]
		setParam(over, ax.block, ax.key, v)
		parts = append(parts, fmt.Sprintf("%s=%s", ax.key, formatValue(v)))
	}
	return Proposal{Params: overlay(g.base, over), Hypothesis: fmt.Sprintf("grid[%d]: %s", g.next-1, strings.Join(parts, ", "))}, true
}

func (g *gridProposer) Exhausted() string {
	return fmt.Sprintf("grid exhausted after %d combinations", g.total)
}

type randomProposer struct {
	base  repo.Parameters
	space repo.SearchSpace
	max   int
	n     int
	rng   *rand.Rand
}

// Next samples every key: a value from lists and choices, a uniform number
// in {min, max} ranges (a whole number when both ends are whole), constants
// as they are. The PCG generator makes the sequence the same on every
// machine for a seed.
func (r *randomProposer) Next([]repo.IterationSummary) (Proposal, bool) {
	if r.n >= r.max {
		return Proposal{}, false
	}
	over := repo.Parameters{}
	var parts []string
	for _, b := range r.space.Surfaces() {
		for _, kv := range b.Entries {
			v := r.sample(kv.Value)
			setParam(over, b.Key, kv.Key, v)
			parts = append(parts, fmt.Sprintf("%s=%s", kv.Key, formatValue(v)))
		}
	}
	r.n++
	return Proposal{Params: overlay(r.base, over), Hypothesis: fmt.Sprintf("random[%d]: %s", r.n-1, strings.Join(parts, ", "))}, true
}

func (r *randomProposer) sample(v any) any {
	switch x := v.(type) {
	case []any:
		return x[r.rng.IntN(len(x))]
	case map[string]any:
		if c, ok := x["choices"].([]any); ok && len(c) > 0 {
			return c[r.rng.IntN(len(c))]
		}
		lo, okLo := rangeEnd(x, "min", "lo")
		hi, okHi := rangeEnd(x, "max", "hi")
		if okLo && okHi {
			_, intLo := x["min"].(int64)
			_, intHi := x["max"].(int64)
			if intLo && intHi {
				return int64(lo) + r.rng.Int64N(int64(hi)-int64(lo)+1)
			}
			// Round to 6 significant digits: parameters people can read
			// and type back.
			f := lo + (hi-lo)*r.rng.Float64()
			return roundSig(f, 6)
		}
	}
	return v
}

func (r *randomProposer) Exhausted() string {
	return fmt.Sprintf("random proposer exhausted after %d samples", r.max)
}

func rangeEnd(m map[string]any, names ...string) (float64, bool) {
	for _, n := range names {
		if f, ok := repo.Number(m[n]); ok {
			return f, true
		}
	}
	return 0, false
}

func roundSig(f float64, digits int) float64 {
	if f == 0 {
		return 0
	}
	p := math.Pow(10, float64(digits)-math.Ceil(math.Log10(math.Abs(f))))
	return math.Round(f*p) / p
}

func setParam(p repo.Parameters, block, key string, v any) {
	m, _ := p[block].(map[string]any)
	if m == nil {
		m = map[string]any{}
		p[block] = m
	}
	m[key] = v
}

// overlay lays over onto base one level deep (per parameters block), leaving
// both untouched.
func overlay(base, over repo.Parameters) repo.Parameters {
	out := repo.Parameters{}
	for k, v := range base {
		if m, ok := v.(map[string]any); ok {
			c := make(map[string]any, len(m))
			for kk, vv := range m {
				c[kk] = vv
			}
			out[k] = c
		} else {
			out[k] = v
		}
	}
	for k, v := range over {
		om, okO := v.(map[string]any)
		bm, okB := out[k].(map[string]any)
		if okO && okB {
			for kk, vv := range om {
				bm[kk] = vv
			}
			continue
		}
		out[k] = v
	}
	return out
}

// formatValue renders a parameter value as JSON (strings quoted), not as a
// Go or Python repr.
func formatValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// TouchedSurfaces lists the non-editable surfaces a parameters object
// touches (the editable contract).
func TouchedSurfaces(e *repo.Experiment, p repo.Parameters) []string {
	var out []string
	for k := range p {
		if s, ok := repo.SurfaceOf(k); ok && !e.Editable.Allows(s) {
			out = append(out, k)
		}
	}
	return out
}

// CountIterations is how many iterations a run of e would make at most:
// the baseline plus every distinct proposal, within maxIter (with neither
// parameters nor proposals, the baseline is the agent as configured).
func CountIterations(e *repo.Experiment, maxIter int) (int, error) {
	p, err := NewProposer(e)
	if err != nil {
		return 0, err
	}
	seen := map[string]bool{}
	if e.Parameters != nil {
		seen[e.Parameters.ID()] = true
	}
	for len(seen) < maxIter {
		prop, ok := p.Next(nil)
		if !ok {
			break
		}
		seen[prop.Params.ID()] = true
	}
	if len(seen) == 0 && maxIter > 0 {
		return 1, nil // the agent as configured (Loop.Run's baseline)
	}
	return len(seen), nil
}
