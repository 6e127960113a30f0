package cli

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

// The AWS CLI's --generate-cli-skeleton and --cli-input-json /
// --cli-input-yaml for the SDK operations: a skeleton is the operation's
// input (or output) structure with placeholder values of each member's
// type, laid out as botocore's ArgumentGenerator does; an input document
// fills the operation's input before the command-line options, which
// override its members.

//go:generate sh -c "python3 genskel/genskel.py > skeleton.json"

// skeletonJSON holds, by service, the AWS model's member order of the
// served operations' structures and each enum's first value (the SDK for
// Go keeps neither).
//
//go:embed skeleton.json
var skeletonJSON []byte

type skeletonModel struct {
	Shapes map[string][]string `json:"shapes"`
	Enums  map[string]string   `json:"enums"`
}

var (
	skeletonOnce   sync.Once
	skeletonModels map[string]skeletonModel
)

func skeletonModelOf(service string) skeletonModel {
	skeletonOnce.Do(func() {
		// Generated and tested (TestSkeletonGolden): a decoding error
		// leaves the SDK's member order, no more.
		_ = json.Unmarshal(skeletonJSON, &skeletonModels)
	})
	return skeletonModels[service]
}

// skeletonOptions are an operation's --generate-cli-skeleton,
// --cli-input-json and --cli-input-yaml.
type skeletonOptions struct {
	generate  string
	inputJSON string
	inputYAML string
	took      bool // the value came as an argument (takeArgs)
}

func (s *skeletonOptions) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&s.generate, "generate-cli-skeleton", "",
		"Prints a JSON skeleton to standard output without sending an API request. "+
			"If provided with no value or the value input, prints a sample input JSON that can be used as an argument for --cli-input-json. "+
			"Similarly, if provided yaml-input it will print a sample input YAML that can be used with --cli-input-yaml. "+
			"If provided with the value output, it prints a sample output JSON for that command.")
	fl.Lookup("generate-cli-skeleton").NoOptDefVal = "input"
	fl.StringVar(&s.inputJSON, "cli-input-json", "",
		"Reads arguments from the JSON string provided (or file://path). The JSON string follows the format provided by --generate-cli-skeleton. "+
			"If other arguments are provided on the command line, those values will override the JSON-provided values. "+
			"This may not be specified along with --cli-input-yaml.")
	fl.StringVar(&s.inputYAML, "cli-input-yaml", "",
		"Reads arguments from the YAML string provided (or file://path). The YAML string follows the format provided by --generate-cli-skeleton yaml-input. "+
			"If other arguments are provided on the command line, those values will override the YAML-provided values. "+
			"This may not be specified along with --cli-input-json.")
}

// memberOrder returns struct type t's exported members (ResultMetadata
// aside) in the AWS model's order where the model knows them, then the
// rest in the SDK's order. shape is the model's name for t.
func memberOrder(m skeletonModel, shape string, t reflect.Type) []reflect.StructField {
	var fields []reflect.StructField
	byName := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() || sf.Name == "ResultMetadata" {
			continue
		}
		byName[sf.Name] = sf
		fields = append(fields, sf)
	}
	names, ok := m.Shapes[shape]
	if !ok {
		return fields
	}
	out := make([]reflect.StructField, 0, len(fields))
	seen := map[string]bool{}
	for _, n := range names {
		if sf, ok := byName[n]; ok {
			out = append(out, sf)
			seen[n] = true
		}
	}
	for _, sf := range fields {
		if !seen[sf.Name] {
			out = append(out, sf)
		}
	}
	return out
}

// skeleton builds the placeholder value of type t (model shape name
// shape): "" for strings (an enum's first value), 0 for integers, 0.0 for
// floats, true for booleans, 1970-01-01T00:00:00 for timestamps, null for
// blobs, a list of one element, a map with one KeyName member, and {} for
// a structure already being built further out, as botocore's.
func skeleton(m skeletonModel, t reflect.Type, shape string, stack map[reflect.Type]bool) any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		if e, ok := m.Enums[t.Name()]; ok {
			return e
		}
		if vs := reflect.New(t).MethodByName("Values"); vs.IsValid() && vs.Type().NumIn() == 0 && vs.Type().NumOut() == 1 {
			if out := vs.Call(nil)[0]; out.Kind() == reflect.Slice && out.Len() > 0 {
				return out.Index(0).String()
			}
		}
		return ""
	case reflect.Bool:
		return true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return int64(0)
	case reflect.Float32, reflect.Float64:
		return float64(0)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil
		}
		return []any{skeleton(m, t.Elem(), t.Elem().Name(), stack)}
	case reflect.Map:
		return ordered{{key: "KeyName", value: skeleton(m, t.Elem(), t.Elem().Name(), stack)}}
	case reflect.Struct:
		if t == timeType {
			return "1970-01-01T00:00:00"
		}
		if stack[t] {
			return ordered{}
		}
		stack[t] = true
		defer delete(stack, t)
		o := ordered{}
		for _, sf := range memberOrder(m, shape, t) {
			o = append(o, member{key: memberName(sf), value: skeleton(m, sf.Type, baseName(sf.Type), stack)})
		}
		return o
	case reflect.Interface:
		return ordered{} // a union or document: no placeholder members
	}
	return nil
}

// memberName is a structure member's API name: its JSON name when it has
// one (Postern's own output structures), else its Go name (the SDK's).
func memberName(sf reflect.StructField) string {
	if name, _, _ := strings.Cut(sf.Tag.Get("json"), ","); name != "" && name != "-" {
		return name
	}
	return sf.Name
}

func baseName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

// generateSkeleton returns the skeleton the --generate-cli-skeleton value
// asks for, or a usage error for an unknown value.
func (s *skeletonOptions) generateSkeleton(service, op string, in, out reflect.Type) (*globals, any, error) {
	m := skeletonModelOf(service)
	switch s.generate {
	case "input":
		return &globals{output: "json", color: "off"}, skeleton(m, in, op+"Input", map[reflect.Type]bool{}), nil
	case "yaml-input":
		return &globals{output: "yaml", color: "off"}, skeleton(m, in, op+"Input", map[reflect.Type]bool{}), nil
	case "output":
		return &globals{output: "json", color: "off"}, skeleton(m, out, op+"Output", map[reflect.Type]bool{}), nil
	}
	return nil, nil, usageErr("argument --generate-cli-skeleton: Invalid choice, valid choices are:\n\ninput                                    | yaml-input                              \noutput                                  ")
}

// loadInput fills in (an operation's input structure) from
// --cli-input-json or --cli-input-yaml, when given.
func (s *skeletonOptions) loadInput(service, op string, in reflect.Value) error {
	var doc any
	switch {
	case s.inputJSON != "" && s.inputYAML != "":
		return usageErr("argument --cli-input-yaml: not allowed with argument --cli-input-json")
	case s.inputJSON != "":
		text, err := readFileArg(s.inputJSON)
		if err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(text), &doc); err != nil {
			return usageErr("argument --cli-input-json: Invalid JSON received: %v", err)
		}
	case s.inputYAML != "":
		text, err := readFileArg(s.inputYAML)
		if err != nil {
			return err
		}
		if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
			return usageErr("argument --cli-input-yaml: Invalid YAML received: %v", err)
		}
		doc = fromYAML(doc)
	default:
		return nil
	}
	if doc == nil {
		return nil
	}
	top, ok := doc.(map[string]any)
	if !ok {
		return usageErr("the input document must be a JSON or YAML object (a mapping of parameter names to values), not a %s", valueKind(doc))
	}
	m := skeletonModelOf(service)
	var problems []string
	validateDoc(m, top, in.Type(), op+"Input", "input", &problems)
	if len(problems) > 0 {
		return &exitError{code: ExitUsage, msg: "\nParameter validation failed:\n" + strings.Join(problems, "\n")}
	}
	for k, v := range top {
		if err := assign(in.FieldByName(k), v, k); err != nil {
			return err
		}
	}
	return nil
}

// fromYAML turns a YAML document's values into JSON's generic ones.
func fromYAML(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = fromYAML(e)
		}
		return x
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = fromYAML(e)
		}
		return out
	case []any:
		for i, e := range x {
			x[i] = fromYAML(e)
		}
		return x
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case uint64:
		return float64(x)
	case time.Time: // an unquoted YAML timestamp
		return x.Format(time.RFC3339Nano)
	}
	return v
}

// validateDoc lists a document's members unknown to type t, as botocore's
// parameter validation words them: Unknown parameter in Tags[0]: "Z",
// must be one of: Key, Value.
func validateDoc(m skeletonModel, v any, t reflect.Type, shape, where string, problems *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if t == timeType || !ok {
			return
		}
		fields := memberOrder(m, shape, t)
		names := make([]string, len(fields))
		byName := map[string]reflect.StructField{}
		for i, sf := range fields {
			names[i] = sf.Name
			byName[sf.Name] = sf
		}
		for _, k := range docKeys(obj) {
			sf, ok := byName[k]
			if !ok {
				*problems = append(*problems, fmt.Sprintf("Unknown parameter in %s: %q, must be one of: %s", where, k, strings.Join(names, ", ")))
				continue
			}
			sub := k
			if where != "input" {
				sub = where + "." + k
			}
			validateDoc(m, obj[k], sf.Type, baseName(sf.Type), sub, problems)
		}
	case reflect.Slice:
		if list, ok := v.([]any); ok && t.Elem().Kind() != reflect.Uint8 {
			for i, e := range list {
				validateDoc(m, e, t.Elem(), baseName(t.Elem()), fmt.Sprintf("%s[%d]", where, i), problems)
			}
		}
	case reflect.Map:
		if obj, ok := v.(map[string]any); ok {
			for _, k := range docKeys(obj) {
				validateDoc(m, obj[k], t.Elem(), baseName(t.Elem()), where+"."+k, problems)
			}
		}
	}
}

func docKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// printSkeleton prints the skeleton --generate-cli-skeleton asks for op,
// calling nothing.
func printSkeleton(env *Env, s *skeletonOptions, service string, op operation) error {
	g, v, err := s.generateSkeleton(service, op.name, op.input, op.method.Type().Out(0).Elem())
	if err != nil {
		return err
	}
	if o, ok := v.(ordered); ok && len(o) == 0 {
		_, err := fmt.Fprintln(env.Stdout, "{}")
		return err
	}
	if s.generate == "yaml-input" { // the model's order, not the yaml output's sorted keys
		var b bytes.Buffer
		writeYAMLInOrder(&b, v)
		_, err := env.Stdout.Write(b.Bytes())
		return err
	}
	return printResult(env.Stdout, g, "", v)
}

// skeletonChoices are --generate-cli-skeleton's values.
var skeletonChoices = []string{"input", "yaml-input", "output"}

// args lets `--generate-cli-skeleton output` through the operation's
// positional-argument check: the flag's value is optional (input), so the
// flag parser leaves a separate value as an argument.
func (s *skeletonOptions) args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		s.takeArgs(cmd, &args)
		return check(cmd, args)
	}
}

// takeArgs moves a value left after a valueless --generate-cli-skeleton
// from args into the option.
func (s *skeletonOptions) takeArgs(cmd *cobra.Command, args *[]string) {
	if s.took {
		*args = nil
		return
	}
	f := cmd.Flags().Lookup("generate-cli-skeleton")
	if f == nil || !f.Changed || len(*args) != 1 || s.generate != "input" || !slices.Contains(skeletonChoices, (*args)[0]) {
		return
	}
	s.generate = (*args)[0]
	s.took = true
	*args = nil
}
