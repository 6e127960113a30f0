// Drives a running Postern server with the AWS SDK for JavaScript v3 EC2
// client: the endpoint lifecycle of the EC2 issue, and typed errors.
// Environment: POSTERN_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_REGION, and NODE_EXTRA_CA_CERTS pointing at the server's ca.pem.
import {
  EC2Client, CreateVpcCommand, CreateSubnetCommand, CreateSecurityGroupCommand,
  AuthorizeSecurityGroupIngressCommand, AuthorizeSecurityGroupEgressCommand, RunInstancesCommand,
  CreateInstanceConnectEndpointCommand, DescribeInstanceConnectEndpointsCommand, DescribeInstancesCommand,
  DeleteInstanceConnectEndpointCommand, paginateDescribeInstanceConnectEndpoints,
} from "@aws-sdk/client-ec2";
import assert from "node:assert/strict";

const client = new EC2Client({ endpoint: process.env.POSTERN_ENDPOINT, region: process.env.AWS_REGION || "us-east-1", maxAttempts: 1 });
let passed = 0;
const check = async (name, fn) => {
  try {
    await fn();
    passed++;
  } catch (err) {
    console.error(`FAIL ${name}:`, err);
    console.log(`js-sdk: ${passed} passed, 1 failed`);
    process.exit(1);
  }
};
const expectError = async (name, promise) => {
  try {
    await promise;
  } catch (err) {
    return err.name;
  }
  throw new Error(`${name}: no error`);
};

let vpc, subnet, eiceSg, instSg, instance, eice;
await check("create VPC and subnet", async () => {
  vpc = (await client.send(new CreateVpcCommand({ CidrBlock: "10.20.0.0/16" }))).Vpc.VpcId;
  subnet = (await client.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: "10.20.1.0/24" }))).Subnet.SubnetId;
  assert.match(subnet, /^subnet-/);
});
await check("security groups with the tutorial's rules", async () => {
  eiceSg = (await client.send(new CreateSecurityGroupCommand({ GroupName: "eice", Description: "endpoint", VpcId: vpc }))).GroupId;
  instSg = (await client.send(new CreateSecurityGroupCommand({ GroupName: "dev", Description: "instances", VpcId: vpc }))).GroupId;
  await client.send(new AuthorizeSecurityGroupEgressCommand({ GroupId: eiceSg,
    IpPermissions: [{ IpProtocol: "tcp", FromPort: 22, ToPort: 22, UserIdGroupPairs: [{ GroupId: instSg }] }] }));
  await client.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: instSg,
    IpPermissions: [{ IpProtocol: "tcp", FromPort: 22, ToPort: 22, UserIdGroupPairs: [{ GroupId: eiceSg }], IpRanges: [{ CidrIp: "10.20.0.0/16" }] }] }));
});
await check("register an instance (Postern's RegisterInstance, RunInstances-shaped)", async () => {
  const params = new URLSearchParams({ Action: "RegisterInstance", Version: "2016-11-15", SubnetId: subnet,
    PrivateIpAddress: "10.20.1.10", "SecurityGroupId.1": instSg });
  const cmd = new RunInstancesCommand({ MinCount: 1, MaxCount: 1 });
  cmd.middlewareStack.add((next) => async (args) => {
    const body = params.toString();
    args.request.body = body;
    args.request.headers["content-length"] = String(Buffer.byteLength(body));
    return next(args);
  }, { step: "build", name: "posternRegisterInstance" });
  const out = await client.send(cmd);
  instance = out.Instances[0].InstanceId;
  assert.match(instance, /^i-/);
  assert.equal(out.Instances[0].PrivateIpAddress, "10.20.1.10");
});
await check("create an endpoint with tags and a client token, twice", async () => {
  const input = { SubnetId: subnet, SecurityGroupIds: [eiceSg], ClientToken: "js-token-1",
    TagSpecifications: [{ ResourceType: "instance-connect-endpoint", Tags: [{ Key: "Name", Value: "js" }, { Key: "env", Value: "test & dev" }] }] };
  const a = await client.send(new CreateInstanceConnectEndpointCommand(input));
  const b = await client.send(new CreateInstanceConnectEndpointCommand(input));
  eice = a.InstanceConnectEndpoint.InstanceConnectEndpointId;
  assert.match(eice, /^eice-/);
  assert.equal(b.InstanceConnectEndpoint.InstanceConnectEndpointId, eice);
  assert.equal(a.ClientToken, "js-token-1");
  assert.equal(a.InstanceConnectEndpoint.State, "create-in-progress");
  assert.ok(a.InstanceConnectEndpoint.CreatedAt instanceof Date);
  assert.deepEqual(a.InstanceConnectEndpoint.Tags.map((t) => t.Value), ["js", "test & dev"]);
});
await check("describe by id and by each filter", async () => {
  const byId = await client.send(new DescribeInstanceConnectEndpointsCommand({ InstanceConnectEndpointIds: [eice] }));
  assert.equal(byId.InstanceConnectEndpoints.length, 1);
  assert.deepEqual(byId.InstanceConnectEndpoints[0].SecurityGroupIds, [eiceSg]);
  for (const f of [{ Name: "vpc-id", Values: [vpc] }, { Name: "subnet-id", Values: [subnet] }, { Name: "state", Values: ["create-in-progress", "create-complete"] },
    { Name: "instance-connect-endpoint-id", Values: [eice] }, { Name: "tag:Name", Values: ["js"] }, { Name: "tag-key", Values: ["env"] }, { Name: "tag-value", Values: ["js"] }]) {
    const out = await client.send(new DescribeInstanceConnectEndpointsCommand({ Filters: [f] }));
    assert.equal(out.InstanceConnectEndpoints.length, 1, `filter ${f.Name}`);
  }
  const none = await client.send(new DescribeInstanceConnectEndpointsCommand({ Filters: [{ Name: "tag:Name", Values: ["other"] }] }));
  assert.equal(none.InstanceConnectEndpoints.length, 0);
});
await check("a second VPC's endpoint, then page by page with MaxResults=1", async () => {
  const vpc2 = (await client.send(new CreateVpcCommand({ CidrBlock: "10.30.0.0/16" }))).Vpc.VpcId;
  const sub2 = (await client.send(new CreateSubnetCommand({ VpcId: vpc2, CidrBlock: "10.30.1.0/24" }))).Subnet.SubnetId;
  await client.send(new CreateInstanceConnectEndpointCommand({ SubnetId: sub2 }));
  let pages = 0, ids = [];
  for await (const page of paginateDescribeInstanceConnectEndpoints({ client, pageSize: 1 }, {})) {
    pages++;
    ids.push(...page.InstanceConnectEndpoints.map((e) => e.InstanceConnectEndpointId));
  }
  assert.equal(ids.length, 2);
  assert.ok(pages >= 2);
});
await check("describe the instance", async () => {
  const out = await client.send(new DescribeInstancesCommand({ InstanceIds: [instance] }));
  const i = out.Reservations[0].Instances[0];
  assert.equal(i.VpcId, vpc);
  assert.equal(i.SubnetId, subnet);
  assert.equal(i.PrivateIpAddress, "10.20.1.10");
  assert.equal(i.State.Name, "running");
});
await check("typed errors", async () => {
  assert.equal(await expectError("unknown", client.send(new DescribeInstanceConnectEndpointsCommand({ InstanceConnectEndpointIds: ["eice-0123456789abcdef0"] }))),
    "InvalidInstanceConnectEndpointId.NotFound");
  assert.equal(await expectError("malformed", client.send(new DescribeInstanceConnectEndpointsCommand({ InstanceConnectEndpointIds: ["nope"] }))),
    "InvalidInstanceConnectEndpointId.Malformed");
  assert.equal(await expectError("mismatch", client.send(new CreateInstanceConnectEndpointCommand({ SubnetId: subnet, ClientToken: "js-token-1", PreserveClientIp: true }))),
    "IdempotentParameterMismatch");
  assert.equal(await expectError("bad subnet", client.send(new CreateInstanceConnectEndpointCommand({ SubnetId: "subnet-0123456789abcdef0" }))),
    "InvalidSubnetID.NotFound");
  assert.equal(await expectError("bad page size", client.send(new DescribeInstanceConnectEndpointsCommand({ MaxResults: 500 }))),
    "InvalidParameterValue");
});
await check("delete the endpoint", async () => {
  const out = await client.send(new DeleteInstanceConnectEndpointCommand({ InstanceConnectEndpointId: eice }));
  assert.equal(out.InstanceConnectEndpoint.InstanceConnectEndpointId, eice);
  const after = await client.send(new DescribeInstanceConnectEndpointsCommand({ InstanceConnectEndpointIds: [eice] }));
  assert.equal(after.InstanceConnectEndpoints[0].State, "delete-complete");
});
console.log(`js-sdk: ${passed} passed, 0 failed`);
