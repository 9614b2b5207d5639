package adapters

import (
	"fmt"
	"strings"

	"github.com/selfevals/selfevals/repo"
)

// expand replaces each ${NAME} in s with the value of the environment
// variable NAME. A variable that is not set is an error naming it and where
// it was used (field), so a missing token fails before the first call rather
// than as a 401 on every case. Text that is not ${NAME} is kept as written.
func expand(s, field string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.IndexByte(s[i+2:], '}')
		if j < 0 {
			return "", repo.Userf("%s: unclosed ${ in %q; write ${NAME} to use the environment variable NAME", field, s)
		}
		name := s[i+2 : i+2+j]
		if !validEnvName(name) {
			return "", repo.Userf("%s: %q is not an environment variable name; write ${NAME} with letters, digits and _", field, "${"+name+"}")
		}
		v, ok := lookup(name)
		if !ok {
			return "", &repo.UserError{
				Msg:  fmt.Sprintf("%s: environment variable %s is not set", field, name),
				Hint: fmt.Sprintf("export %s=... before running, or remove ${%s} from the spec", name, name),
			}
		}
		b.WriteString(s[:i])
		b.WriteString(v)
		s = s[i+2+j+1:]
	}
}

func validEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i, c := range name {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
