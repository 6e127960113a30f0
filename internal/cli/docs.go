package cli

import (
	"bytes"
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
	docsMu sync.Mutex
	docs   = map[string]map[string]opDoc{}
)

// operationDoc returns the help of service's operation op ("DescribeVpcs").
// Only service's part of docs.json is decoded (a command runs with one
// service's commands built: decoding the whole file cost ~1.6 ms of every
// service command's start).
func operationDoc(service, op string) opDoc {
	docsMu.Lock()
	defer docsMu.Unlock()
	d, ok := docs[service]
	if !ok {
		d = decodeServiceDocs(docsJSON, service)
		docs[service] = d
	}
	return d[op]
}

// decodeServiceDocs decodes service's object of a docs.json as gendocs
// writes it (json.MarshalIndent with two spaces: each service's object
// opens on a line `  "name": {` and closes on the first later line that
// is `  }`; everything inside is indented deeper). A file of another
// shape is decoded whole. docs.json is generated and tested
// (TestServedOperationsDocumented, TestDocsUpToDate): a decoding error
// leaves the help without descriptions, no more.
func decodeServiceDocs(all []byte, service string) map[string]opDoc {
	key, _ := json.Marshal(service)
	open := append(append([]byte("\n  "), key...), ": {"...)
	if i := bytes.Index(all, open); i >= 0 {
		body := all[i+len(open)-1:]
		if j := bytes.Index(body, []byte("\n  }")); j >= 0 {
			var d map[string]opDoc
			if json.Unmarshal(body[:j+len("\n  }")], &d) == nil {
				return d
			}
		}
	}
	var whole map[string]map[string]opDoc
	_ = json.Unmarshal(all, &whole)
	return whole[service]
}
