"""Signed API calls to a Postern server through botocore.

Run by internal/e2e/botocore_test.go with Debian's /usr/bin/python3 and
python3-botocore: a foreign HTTP client (urllib3), TLS stack (Python's
ssl, OpenSSL) and SigV4 signer (awscrt's when python3-awscrt is installed,
botocore's own with BOTO_DISABLE_CRT=true). botocore reads the region, ca_bundle and
keys from the files named by AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE
and AWS_PROFILE; the endpoint comes from the profile's endpoint_url (this
botocore predates reading it itself, so it is passed explicitly).

Every call is recorded, never raised: stdout is one JSON object with
  versions:  botocore, Python and OpenSSL versions, the signer's class;
  results:   {name: {"ok": true, "data": {...}} or
                     {"ok": false, "code", "status", "message"} or
                     {"ok": false, "exception"}};
  requests:  what botocore put on the wire for each call (the call's
             name and the operation's, service and
             region of the credential scope, signed headers, the
             X-Amz-Content-SHA256 header if any, https or not).
The Go test decides what is right.

POSTERN_SSH_PUBLIC_KEY holds an OpenSSH public key line for
SendSSHPublicKey.
"""

import json
import os
import ssl
import sys
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import botocore
import botocore.session
from botocore.auth import AUTH_TYPE_MAPS
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from botocore.httpsession import URLLib3Session
from botocore.parsers import EC2QueryParser

EC2_VERSION = "2016-11-15"
# The signer botocore's clients use for SigV4: awscrt's when python3-awscrt
# is installed (unless BOTO_DISABLE_CRT=true), otherwise botocore's own.
SIGNER = AUTH_TYPE_MAPS["v4"]

session = botocore.session.Session()
scoped = session.get_scoped_config()
ENDPOINT = scoped["endpoint_url"]
REGION = scoped["region"]
CA_BUNDLE = session.get_config_variable("ca_bundle")
# One attempt per call: a retried 5xx would hide what the server answered.
CONFIG = Config(
    retries={"total_max_attempts": 1, "mode": "standard"},
    connect_timeout=30,
    read_timeout=60,
    user_agent_extra="postern-e2e/botocore",
)

results = {}
requests = []
current = [""]  # the name of the call being made


def record_request(prepared, label):
    """Notes what the signer put on the wire for one request."""
    h = prepared.headers
    auth = h.get("Authorization", "")
    if isinstance(auth, bytes):
        auth = auth.decode()
    scope, signed = "", ""
    for part in auth.split(" ", 1)[-1].split(", "):
        k, _, v = part.partition("=")
        if k == "Credential":
            scope = v.split("/", 1)[-1]  # date/region/service/aws4_request
        elif k == "SignedHeaders":
            signed = v
    sha = h.get("X-Amz-Content-SHA256")
    if isinstance(sha, bytes):
        sha = sha.decode()
    fields = scope.split("/")
    requests.append(
        {
            "call": current[0],
            "operation": label,
            "https": prepared.url.startswith("https://"),
            "scheme": auth.split(" ", 1)[0],
            "service": fields[2] if len(fields) == 4 else "",
            "region": fields[1] if len(fields) == 4 else "",
            "signed_headers": signed,
            "content_sha256": sha,
            "security_token": "X-Amz-Security-Token" in h,
        }
    )


def on_before_send(request, event_name=None, **kwargs):
    # event_name is before-send.<service>.<Operation>.
    record_request(request, event_name.split(".", 1)[-1])
    return None  # let botocore send it


def client(service, creds=None):
    kw = {}
    if creds is not None:
        kw = {
            "aws_access_key_id": creds["AccessKeyId"],
            "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds.get("SessionToken"),
        }
    c = session.create_client(service, region_name=REGION, endpoint_url=ENDPOINT, config=CONFIG, **kw)
    c.meta.events.register("before-send", on_before_send)
    return c


def call(name, fn):
    """Runs fn and records its data or the error botocore raised."""
    current[0] = name
    try:
        results[name] = {"ok": True, "data": fn()}
    except ClientError as e:
        err = e.response.get("Error", {})
        results[name] = {
            "ok": False,
            "code": err.get("Code", ""),
            "message": err.get("Message", ""),
            "status": e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0),
        }
    except Exception as e:  # noqa: BLE001 - reported to the Go test
        results[name] = {"ok": False, "exception": "%s: %s" % (type(e).__name__, e)}
    return results[name].get("data")


# --- EC2 actions this botocore's model may lack -----------------------------

http = URLLib3Session(verify=CA_BUNDLE, timeout=60)


def ec2_action(action, params):
    """Calls an EC2 Query action this botocore's model lacks (1.29.x has
    no Instance Connect Endpoint actions): serialised as the EC2 serializer
    does (see the AWS CLI capture in
    internal/wire/sigv4/testdata/captures/aws-cli-api.txt), signed by the signer botocore's clients use, sent with botocore's HTTP session
    and, on error, parsed by botocore's EC2 parser into the ClientError a
    model call raises. It returns the response's XML root."""
    body = urlencode([("Action", action), ("Version", EC2_VERSION)] + params)
    req = AWSRequest(
        method="POST",
        url=ENDPOINT + "/",
        data=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    SIGNER(session.get_credentials(), "ec2", REGION).add_auth(req)
    prepared = req.prepare()
    record_request(prepared, "ec2.%s(raw)" % action)
    resp = http.send(prepared)
    if resp.status_code >= 300:
        parsed = EC2QueryParser().parse(
            {"status_code": resp.status_code, "headers": resp.headers, "body": resp.content}, None
        )
        raise ClientError(parsed, action)
    return ET.fromstring(resp.content)


def x(node, path):
    """The text at an XML path ({*} matches any namespace), or None."""
    found = node.find("{*}" + path.replace("/", "/{*}"))
    return None if found is None else (found.text or "")


def xs(node, path):
    """The texts of all elements at an XML path."""
    return [n.text or "" for n in node.findall("{*}" + path.replace("/", "/{*}"))]


def eice_from_xml(node):
    return {
        "InstanceConnectEndpointId": x(node, "instanceConnectEndpointId"),
        "InstanceConnectEndpointArn": x(node, "instanceConnectEndpointArn"),
        "State": x(node, "state"),
        "VpcId": x(node, "vpcId"),
        "SubnetId": x(node, "subnetId"),
        "DnsName": x(node, "dnsName"),
        "PreserveClientIp": x(node, "preserveClientIp") == "true",
        "SecurityGroupIds": xs(node, "securityGroupIdSet/item"),
        "Tags": {k: v for k, v in zip(xs(node, "tagSet/item/key"), xs(node, "tagSet/item/value"))},
    }


def eice_from_model(e):
    return {
        "InstanceConnectEndpointId": e.get("InstanceConnectEndpointId"),
        "InstanceConnectEndpointArn": e.get("InstanceConnectEndpointArn"),
        "State": e.get("State"),
        "VpcId": e.get("VpcId"),
        "SubnetId": e.get("SubnetId"),
        "DnsName": e.get("DnsName"),
        "PreserveClientIp": e.get("PreserveClientIp"),
        "SecurityGroupIds": e.get("SecurityGroupIds", []),
        "Tags": {t["Key"]: t["Value"] for t in e.get("Tags", [])},
    }


def main():
    ec2 = client("ec2")
    has_eice = "CreateInstanceConnectEndpoint" in ec2.meta.service_model.operation_names
    out = {
        "versions": {
            "botocore": botocore.__version__,
            "python": sys.version.split()[0],
            "openssl": ssl.OPENSSL_VERSION,
            "signer": SIGNER.__module__ + "." + SIGNER.__name__,
            "ec2_model_has_instance_connect_endpoint": has_eice,
            "cloudtrail_model": "cloudtrail" in session.get_available_services(),
        },
        "results": results,
        "requests": requests,
    }

    # --- STS (Query protocol) as the administrator ---------------------------
    sts = client("sts")
    call("sts.GetCallerIdentity", lambda: {k: v for k, v in sts.get_caller_identity().items() if k != "ResponseMetadata"})
    account = (results["sts.GetCallerIdentity"].get("data") or {}).get("Account", "000000000000")

    # --- EC2 Query: VPCs and subnets, through the model ----------------------
    def create_vpc():
        v = ec2.create_vpc(
            CidrBlock="10.77.0.0/16",
            TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "botocore & co"}]}],
        )["Vpc"]
        return {"VpcId": v["VpcId"], "CidrBlock": v["CidrBlock"], "Tags": {t["Key"]: t["Value"] for t in v.get("Tags", [])}}

    vpc_id = (call("ec2.CreateVpc", create_vpc) or {}).get("VpcId", "vpc-missing")
    call(
        "ec2.DescribeVpcs",
        lambda: {"Vpcs": [{"VpcId": v["VpcId"], "CidrBlock": v["CidrBlock"]} for v in ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]]},
    )
    call(
        "ec2.DescribeVpcs filter",
        lambda: {
            "VpcIds": [
                v["VpcId"]
                for v in ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["botocore & co"]}])["Vpcs"]
            ]
        },
    )
    call("ec2.DescribeVpcs unknown", lambda: ec2.describe_vpcs(VpcIds=["vpc-0123456789abcdef0"]) and {})
    subnet_id = (
        call(
            "ec2.CreateSubnet",
            lambda: {"SubnetId": ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.77.1.0/24")["Subnet"]["SubnetId"]},
        )
        or {}
    ).get("SubnetId", "subnet-missing")

    # --- EC2 Query: Instance Connect Endpoints --------------------------------
    token = str(uuid.uuid4())

    def create_eice():
        if has_eice:
            e = ec2.create_instance_connect_endpoint(
                SubnetId=subnet_id,
                PreserveClientIp=False,
                ClientToken=token,
                TagSpecifications=[{"ResourceType": "instance-connect-endpoint", "Tags": [{"Key": "env", "Value": "test & dev"}]}],
            )
            d = eice_from_model(e["InstanceConnectEndpoint"])
            d["ClientToken"] = e.get("ClientToken")
        else:
            root = ec2_action(
                "CreateInstanceConnectEndpoint",
                [
                    ("SubnetId", subnet_id),
                    ("PreserveClientIp", "false"),
                    ("ClientToken", token),
                    ("TagSpecification.1.ResourceType", "instance-connect-endpoint"),
                    ("TagSpecification.1.Tag.1.Key", "env"),
                    ("TagSpecification.1.Tag.1.Value", "test & dev"),
                ],
            )
            d = eice_from_xml(root.find("{*}instanceConnectEndpoint"))
            d["ClientToken"] = x(root, "clientToken")
        d["SentClientToken"] = token
        return d

    eice_id = (call("ec2.CreateInstanceConnectEndpoint", create_eice) or {}).get("InstanceConnectEndpointId", "eice-missing")

    def describe_eice(ids=None, filters=None):
        if has_eice:
            kw = {}
            if ids:
                kw["InstanceConnectEndpointIds"] = ids
            if filters:
                kw["Filters"] = [{"Name": n, "Values": v} for n, v in filters]
            got = ec2.describe_instance_connect_endpoints(**kw)["InstanceConnectEndpoints"]
            return {"Endpoints": [eice_from_model(e) for e in got]}
        params = [("InstanceConnectEndpointId.%d" % (i + 1), v) for i, v in enumerate(ids or [])]
        for i, (n, vals) in enumerate(filters or []):
            params.append(("Filter.%d.Name" % (i + 1), n))
            params += [("Filter.%d.Value.%d" % (i + 1, j + 1), v) for j, v in enumerate(vals)]
        root = ec2_action("DescribeInstanceConnectEndpoints", params)
        return {"Endpoints": [eice_from_xml(n) for n in root.findall("{*}instanceConnectEndpointSet/{*}item")]}

    call("ec2.DescribeInstanceConnectEndpoints", lambda: describe_eice(ids=[eice_id]))
    call("ec2.DescribeInstanceConnectEndpoints filter", lambda: describe_eice(filters=[("vpc-id", [vpc_id])]))
    call("ec2.DescribeInstanceConnectEndpoints unknown", lambda: describe_eice(ids=["eice-0123456789abcdef0"]))

    # --- EC2 Instance Connect (JSON 1.1 protocol) -----------------------------
    def local_instance():
        for r in ec2.describe_instances()["Reservations"]:
            for i in r["Instances"]:
                if i.get("PrivateIpAddress") == "127.0.0.1":
                    return {"InstanceId": i["InstanceId"]}
        raise LookupError("no instance at 127.0.0.1")

    instance_id = (call("ec2.DescribeInstances", local_instance) or {}).get("InstanceId", "i-0000000000000000f")
    eic = client("ec2-instance-connect")
    pub = os.environ["POSTERN_SSH_PUBLIC_KEY"].strip()

    def send_key(iid):
        r = eic.send_ssh_public_key(InstanceId=iid, InstanceOSUser="ec2-user", SSHPublicKey=pub)
        return {"Success": r["Success"], "RequestId": r["RequestId"]}

    call("ec2-instance-connect.SendSSHPublicKey", lambda: send_key(instance_id))
    call("ec2-instance-connect.SendSSHPublicKey unknown", lambda: send_key("i-0123456789abcdef0"))

    # --- IAM (Query protocol) ---------------------------------------------------
    iam = client("iam")

    def create_user():
        u = iam.create_user(UserName="boto-user")["User"]
        return {"UserName": u["UserName"], "UserId": u["UserId"], "Arn": u["Arn"]}

    call("iam.CreateUser", create_user)
    call("iam.ListUsers", lambda: {"UserNames": [u["UserName"] for u in iam.list_users()["Users"]]})
    call("iam.GetUser unknown", lambda: iam.get_user(UserName="nobody") and {})
    def create_access_key():
        k = iam.create_access_key(UserName="boto-user")["AccessKey"]
        return {"AccessKeyId": k["AccessKeyId"], "SecretAccessKey": k["SecretAccessKey"]}

    key = call("iam.CreateAccessKey", create_access_key) or {}
    role_arn = "arn:aws:iam::%s:role/boto-role" % account
    policy = lambda stmt: json.dumps({"Version": "2012-10-17", "Statement": [stmt]})  # noqa: E731
    call(
        "iam.PutUserPolicy",
        lambda: iam.put_user_policy(
            UserName="boto-user",
            PolicyName="assume",
            PolicyDocument=policy({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}),
        )
        and {},
    )

    def create_role():
        trust = policy({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::%s:user/boto-user" % account}, "Action": "sts:AssumeRole"})
        r = iam.create_role(RoleName="boto-role", AssumeRolePolicyDocument=trust)["Role"]
        return {"RoleName": r["RoleName"], "RoleId": r["RoleId"], "Arn": r["Arn"]}

    call("iam.CreateRole", create_role)
    call(
        "iam.PutRolePolicy",
        lambda: iam.put_role_policy(
            RoleName="boto-role",
            PolicyName="list",
            PolicyDocument=policy({"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}),
        )
        and {},
    )

    # --- STS AssumeRole, then calls with the temporary credentials -------------
    def assume_role():
        r = client("sts", key).assume_role(RoleArn=role_arn, RoleSessionName="botocore-session", DurationSeconds=900)
        c = r["Credentials"]
        return {
            "AccessKeyId": c["AccessKeyId"],
            "SecretAccessKey": c["SecretAccessKey"],
            "SessionToken": c["SessionToken"],
            "AssumedRoleArn": r["AssumedRoleUser"]["Arn"],
            "AssumedRoleId": r["AssumedRoleUser"]["AssumedRoleId"],
        }

    temp = call("sts.AssumeRole", assume_role) or {}
    call("sts.GetCallerIdentity role session", lambda: {"Arn": client("sts", temp).get_caller_identity()["Arn"]})
    call("iam.ListUsers role session", lambda: {"UserNames": [u["UserName"] for u in client("iam", temp).list_users()["Users"]]})
    call("iam.CreateUser role session", lambda: client("iam", temp).create_user(UserName="not-allowed") and {})
    wrong = dict(key, SecretAccessKey="wrong" + key.get("SecretAccessKey", ""))
    call("sts.GetCallerIdentity wrong secret", lambda: client("sts", wrong).get_caller_identity() and {})

    # --- CloudTrail (JSON 1.1 protocol) -----------------------------------------
    def lookup_events():
        ct = client("cloudtrail")
        got = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateUser"}], MaxResults=50)
        return {
            "Events": [
                {
                    "EventName": e.get("EventName"),
                    "Username": e.get("Username"),
                    "Resources": [r.get("ResourceName") for r in e.get("Resources", [])],
                    "EventTimeIsDate": hasattr(e.get("EventTime"), "isoformat"),
                    "CloudTrailEvent": json.loads(e.get("CloudTrailEvent") or "{}"),
                }
                for e in got["Events"]
            ]
        }

    if out["versions"]["cloudtrail_model"]:
        call("cloudtrail.LookupEvents", lookup_events)

    json.dump(out, sys.stdout, indent=1, default=str)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
