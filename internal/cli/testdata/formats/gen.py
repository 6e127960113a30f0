#!/usr/bin/env python3
"""Make the output-format golden files with the AWS CLI's own formatters.

TestOutputFormats (internal/cli/output_test.go) writes, with -update-formats,
each case's response as NAME.response.json (the SDK output printed by
Postern, members in the SDK's order) and the cases' titles and queries in
cases.tsv. This script then lays each response out with the installed AWS
CLI v1's formatters (awscli.formatter: JSONFormatter, TextFormatter,
TableFormatter with --color off, the layouts v2 shares) and with AWS CLI
v2's own yaml formatter (/usr/bin/aws's awscli.formatter.YAMLDumper, run by
/usr/bin/python3), writing
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
import subprocess

import jmespath
from awscli.formatter import get_formatter

here = os.path.dirname(os.path.abspath(__file__))


# The yaml layouts come from AWS CLI v2's own yaml formatter
# (awscli.formatter.YAMLDumper: ruamel.yaml's safe dumper over libyaml, YAML
# 1.2 scalars, keys sorted; a scalar result as JSON), run by the Python that
# /usr/bin/aws (v2 2.9.19, Debian) uses.
V2_PYTHON = "/usr/bin/python3"
V2_DUMP = """
import io, json, sys
sys.path.insert(0, "/usr/lib/python3/dist-packages")
from awscli.formatter import YAMLDumper
out = io.StringIO()
YAMLDumper().dump(json.load(sys.stdin), out)
sys.stdout.write(out.getvalue())
"""


def v2_yaml(doc):
    return subprocess.run([V2_PYTHON, "-c", V2_DUMP], input=json.dumps(doc), capture_output=True,
                          text=True, check=True).stdout


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
            text = "" if doc == {} else v2_yaml(doc)
            with open(os.path.join(here, name + "." + fmt), "w") as f:
                f.write(text)


if __name__ == "__main__":
    main()
