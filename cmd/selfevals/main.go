// Command selfevals evaluates and improves AI agents from inside a git
// repository. See README.md.
package main

import (
	"os"
)

func main() {
	os.Exit(Main(os.Args[1:], SystemStreams()))
}
