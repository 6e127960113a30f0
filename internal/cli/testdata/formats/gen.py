#!/usr/bin/env python3
"""Make the output-format golden files with the AWS CLI's own formatters.

TestOutputFormats (internal/cli/output_test.go) writes, with -update-formats,
each case's response as NAME.response.json (the SDK output printed by
Postern, members in the SDK's order) and the cases' titles and queries in
cases.tsv. This script then lays each response out with the installed AWS
CLI v1's formatters (awscli.formatter: JSONFormatter, TextFormatter,
TableFormatter with --color off, the layouts v2 shares) and with PyYAML's
safe dumper in block style, each mapping's keys sorted (the layout of AWS
CLI v2's yaml output, whose ruamel dumper, PyYAML's fork, sorts a dict's
keys), writing
NAME.json, NAME.text, NAME.table, NAME.yaml and NAME.yaml-stream.

The text and table layouts were also checked byte for byte against the
`aws` command itself (AWS CLI v1) run against a local Postern server on
loopback (`aws --no-verify-ssl iam list-users --output table`, ec2
describe-vpcs, describe-security-groups, describe-subnets, sts
get-caller-identity, with and without --query): they match, except that
`aws` v1 prints timestamps as the wire sends them (…Z) where Postern, as
AWS CLI v2, prints ISO 8601 with +00:00; and the JSON member order, which
`aws` takes from the wire and Postern from the SDK's structures.

Run from the repository root:
  go test -run TestOutputFormats ./internal/cli/ -update-formats
  python3 internal/cli/testdata/formats/gen.py
  go test -run TestOutputFormats ./internal/cli/
"""
import argparse
import collections
import io
import json
import os

import jmespath
import yaml
from awscli.formatter import get_formatter

here = os.path.dirname(os.path.abspath(__file__))


class Dumper(yaml.SafeDumper):
    pass


Dumper.add_representer(
    collections.OrderedDict,
    lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", sorted(v.items())))


def main():
    with open(os.path.join(here, "cases.tsv")) as f:
        cases = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    for name, title, query in cases:
        with open(os.path.join(here, name + ".response.json")) as f:
            response = json.load(f, object_pairs_hook=collections.OrderedDict)
        compiled = jmespath.compile(query) if query else None
        for fmt in ("json", "text", "table"):
            args = argparse.Namespace(query=compiled, color="off")
            out = io.StringIO()
            get_formatter(fmt, args)(title, response, out)
            with open(os.path.join(here, name + "." + fmt), "w") as f:
                f.write(out.getvalue())
        data = compiled.search(response, jmespath.Options(dict_cls=collections.OrderedDict)) if compiled else response
        for fmt, doc in (("yaml", data), ("yaml-stream", [data])):
            text = "" if doc == {} else yaml.dump(doc, Dumper=Dumper, default_flow_style=False, allow_unicode=True, sort_keys=False)
            with open(os.path.join(here, name + "." + fmt), "w") as f:
                f.write(text)


if __name__ == "__main__":
    main()
