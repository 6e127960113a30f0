"""Writes skeleton.json: for the served operations (docs.json's), the AWS
model's member order of every structure reachable from their input and
output shapes, and the first value of every enum, read from botocore (the
AWS CLI's model). The SDK for Go orders members required-first and drops
the model's enum order; --generate-cli-skeleton lays them out as the AWS
CLI does.

Run from internal/cli: python3 genskel/genskel.py > skeleton.json
"""
import json
import sys

import botocore.session

docs = json.load(open("docs.json"))
session = botocore.session.get_session()
out = {}
for svc in sorted(docs):
    model = session.get_service_model(svc)
    shapes, enums = {}, {}

    def walk(shape, name):
        if shape.type_name == "structure":
            if name in shapes:
                return
            shapes[name] = list(shape.members)
            for m in shape.members.values():
                walk(m, m.name)
        elif shape.type_name == "list":
            walk(shape.member, shape.member.name)
        elif shape.type_name == "map":
            walk(shape.value, shape.value.name)
        elif shape.type_name == "string" and shape.enum:
            enums[name] = shape.enum[0]

    for op in sorted(docs[svc]):
        om = model.operation_model(op)
        if om.input_shape is not None:
            walk(om.input_shape, op + "Input")
        else:
            # No input at all (GetAccountPasswordPolicy): an empty skeleton.
            shapes[op + "Input"] = []
        if om.output_shape is not None:
            walk(om.output_shape, op + "Output")
    out[svc] = {"shapes": shapes, "enums": enums}
json.dump(out, sys.stdout, indent=1, sort_keys=True)
sys.stdout.write("\n")
