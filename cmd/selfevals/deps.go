package main
import (
 _ "github.com/go-git/go-git/v5"
 _ "github.com/spf13/cobra"
 _ "github.com/goccy/go-json"
 _ "github.com/parquet-go/parquet-go"
 _ "gopkg.in/yaml.v3"
 _ "github.com/google/go-cmp/cmp"
 _ "github.com/santhosh-tekuri/jsonschema/v6"
)
func main(){}
