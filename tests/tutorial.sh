#!/usr/bin/env bash
# The EC2 Instance Connect Endpoint tutorial ("Steps to create Instance
# connect Endpoint", steps 1-5) with `aws` replaced by `postern`, against a
# real server process.
# Usage: tests/tutorial.sh [path/to/postern]   (default: bin/postern)
set -euo pipefail
export AWS_EC2_METADATA_DISABLED=true  # never reach the instance metadata address
POSTERN=${1:-bin/postern}
POSTERN=$(cd "$(dirname "$POSTERN")" && pwd)/$(basename "$POSTERN")
work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$POSTERN" server --data-dir "$work/data" --listen 127.0.0.1:0 >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 1 300); do
  grep -q "Postern is running on" "$work/server.out" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.err"; echo "tutorial: server exited" >&2; exit 1; }
  sleep 0.1
done
grep -q "Postern is running on" "$work/server.out" || { echo "tutorial: server not ready" >&2; exit 1; }

export AWS_SHARED_CREDENTIALS_FILE=$work/data/credentials AWS_CONFIG_FILE=$work/data/config AWS_PROFILE=postern
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_REGION AWS_DEFAULT_REGION AWS_ENDPOINT_URL

# field NAME: the first "NAME": "value" of the JSON on stdin.
field() { grep -o "\"$1\": \"[^\"]*\"" | head -1 | sed 's/.*: "\(.*\)"/\1/'; }
step() { echo "== $*" >&2; }
fail() { echo "tutorial: FAIL: $*" >&2; exit 1; }

step "the network the tutorial assumes: a VPC and a subnet"
vpc=$("$POSTERN" ec2 create-vpc --cidr-block 10.0.0.0/16 | field VpcId)
subnet=$("$POSTERN" ec2 create-subnet --vpc-id "$vpc" --cidr-block 10.0.1.0/24 | field SubnetId)
instance_sg=$("$POSTERN" ec2 create-security-group --description "development" --group-name "dev-sg" --vpc-id "$vpc" | field GroupId)

step "1. create a security group"
endpoint_sg=$("$POSTERN" ec2 create-security-group --description "endpoint security group" --group-name "endpoint-sg" --vpc-id "$vpc" | field GroupId)
[[ $endpoint_sg == sg-* ]] || fail "no group id"

step "2. inbound rule on the endpoint group"
"$POSTERN" ec2 authorize-security-group-ingress \
    --group-id "$endpoint_sg" \
    --protocol tcp \
    --port 22 \
    --cidr 0.0.0.0/0 >/dev/null

step "3. outbound rule from the endpoint group to the instance group"
"$POSTERN" ec2 authorize-security-group-egress --group-id "$endpoint_sg" --ip-permissions IpProtocol=tcp,FromPort=22,ToPort=22,UserIdGroupPairs="[{GroupId=$instance_sg}]" >/dev/null

step "4. inbound rule on the instance group from the endpoint group"
"$POSTERN" ec2 authorize-security-group-ingress \
    --group-id "$instance_sg" \
    --protocol tcp \
    --port 22 \
    --source-group "$endpoint_sg" >/dev/null

step "5. create the instance connect endpoint"
eice=$("$POSTERN" ec2 create-instance-connect-endpoint --subnet-id "$subnet" --security-group-ids "$endpoint_sg" | field InstanceConnectEndpointId)
[[ $eice == eice-* ]] || fail "no endpoint id"

step "describe"
out=$("$POSTERN" ec2 describe-instance-connect-endpoints --instance-connect-endpoint-ids "$eice")
echo "$out"
[ "$(echo "$out" | field SubnetId)" = "$subnet" ] || fail "endpoint subnet"
echo "$out" | grep -q "\"$endpoint_sg\"" || fail "endpoint security group"
rules=$("$POSTERN" ec2 describe-security-groups --group-ids "$instance_sg")
echo "$rules" | grep -q "\"GroupId\": \"$endpoint_sg\"" || fail "instance group rule from the endpoint group"
echo "tutorial: PASS" >&2
