package cli

import (
	_ "embed"
	"encoding/json"
	"sync"
)

//go:generate go run ./gendocs -o docs.json

// docsJSON is the help text of the served SDK operations and their
// parameters, written by gendocs from the SDK's doc comments (the SDK has
// no documentation at run time).
//
//go:embed docs.json
var docsJSON []byte

// opDoc is one operation's help: its description and, by input member
// name, its parameters'.
type opDoc struct {
	Doc    string            `json:"doc"`
	Params map[string]string `json:"params"`
}

var (
	docsOnce sync.Once
	docs     map[string]map[string]opDoc
)

// operationDoc returns the help of service's operation op ("DescribeVpcs").
func operationDoc(service, op string) opDoc {
	docsOnce.Do(func() {
		// docs.json is generated and tested (TestServedOperationsDocumented):
		// a decoding error leaves the help without descriptions, no more.
		_ = json.Unmarshal(docsJSON, &docs)
	})
	return docs[service][op]
}
