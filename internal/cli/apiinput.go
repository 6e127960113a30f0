package cli

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// The AWS CLI's --generate-cli-skeleton and --cli-input-json /
// --cli-input-yaml for the hand-written commands that each send one API
// operation (Postern's own actions, the waiters), as the reflected
// operations have them (skeleton.go). The operation's input is a Go
// structure whose exported members are the API's, named and ordered as
// the API's; each member's option is its kebab name (InstanceId →
// --instance-id), so an input document's members fill the options the
// command line leaves unset, and the options the command line sets
// override them.

// apiInput are a hand-written API command's input and output structures.
type apiInput struct {
	service  string       // the model the skeletons' member order comes from ("" for none)
	op       string       // the operation, "RegisterInstance"
	in, out  reflect.Type // structures (not pointers)
	required []string     // input members that must be set, by the options or the document
}

// withAPIInput adds the skeleton and input-document options to cmd, a
// command whose options are a's input members. Its run then sees the
// options as the command line and the document set them, and is not
// called for --generate-cli-skeleton. The required members are checked
// after the document is read (cobra's own check would run before it).
func withAPIInput(cmd *cobra.Command, a apiInput) *cobra.Command {
	var skel skeletonOptions
	skel.register(cmd)
	check := cmd.Args
	if check == nil {
		check = cobra.NoArgs
	}
	cmd.Args = skel.args(check)
	run := cmd.RunE
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		skel.takeArgs(cmd, &args)
		if cmd.Flags().Changed("generate-cli-skeleton") {
			return a.printSkeleton(cmd, &skel)
		}
		if err := a.fill(cmd, &skel); err != nil {
			return err
		}
		var missing []string
		for _, m := range a.required {
			if !cmd.Flags().Changed(kebab(m)) {
				missing = append(missing, "--"+kebab(m))
			}
		}
		if len(missing) > 0 {
			return usageErr("the following arguments are required: %s", strings.Join(missing, ", "))
		}
		return run(cmd, args)
	}
	// Help as the reflected operations': description, synopsis, each
	// option's type, description and shorthand syntax.
	fields := inputFields(a.in)
	for i := range fields {
		if fl := cmd.Flags().Lookup(fields[i].name); fl != nil {
			fields[i].doc = fl.Usage
		}
	}
	cmd.SetHelpFunc(func(cmd *cobra.Command, _ []string) { operationHelp(cmd, opDoc{Doc: commandDoc(cmd)}, fields) })
	return cmd
}

// commandDoc is a hand-written command's description: its long one, else
// its short one.
func commandDoc(cmd *cobra.Command) string {
	if cmd.Long != "" {
		return cmd.Long
	}
	return cmd.Short
}

func (a apiInput) printSkeleton(cmd *cobra.Command, skel *skeletonOptions) error {
	g, v, err := skel.generateSkeleton(a.service, a.op, a.in, a.out)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if o, ok := v.(ordered); ok && len(o) == 0 {
		_, err := fmt.Fprintln(w, "{}")
		return err
	}
	return printResult(w, g, "", v)
}

// fill reads --cli-input-json or --cli-input-yaml into a's input
// structure (checked as the reflected operations' documents are) and sets
// each member's option from it, unless the command line set the option.
func (a apiInput) fill(cmd *cobra.Command, skel *skeletonOptions) error {
	in := reflect.New(a.in).Elem()
	if err := skel.loadInput(a.service, a.op, in); err != nil {
		return err
	}
	for i := 0; i < a.in.NumField(); i++ {
		sf := a.in.Field(i)
		v := in.Field(i)
		if !sf.IsExported() || v.IsZero() {
			continue
		}
		name := kebab(sf.Name)
		fl := cmd.Flags().Lookup(name)
		if fl == nil {
			return fmt.Errorf("%s: the input member %s has no option --%s", a.op, sf.Name, name)
		}
		if fl.Changed {
			continue // the command line overrides the document
		}
		vals, err := optionValues(v)
		if err != nil {
			return usageErr("%s: %v", sf.Name, err)
		}
		for _, s := range vals {
			if err := cmd.Flags().Set(name, s); err != nil {
				return usageErr("%s: %v", sf.Name, err)
			}
		}
	}
	return nil
}

// optionValues returns the option arguments that stand for v, one of an
// input structure's members: a scalar as itself, a list one argument per
// element, a structure as JSON (which the options read as well as
// shorthand).
func optionValues(v reflect.Value) ([]string, error) {
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.String:
		return []string{v.String()}, nil
	case reflect.Bool:
		return []string{strconv.FormatBool(v.Bool())}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return []string{strconv.FormatInt(v.Int(), 10)}, nil
	case reflect.Slice:
		var out []string
		for i := 0; i < v.Len(); i++ {
			e, err := optionValues(v.Index(i))
			if err != nil {
				return nil, err
			}
			out = append(out, e...)
		}
		return out, nil
	}
	b, err := json.Marshal(v.Interface())
	if err != nil {
		return nil, err
	}
	return []string{string(b)}, nil
}
