// Drives Postern with the AWS SDK for JavaScript v3 and nothing but a web
// identity token: the default credential chain reads AWS_PROFILE's
// role_arn and web_identity_token_file, calls AssumeRoleWithWebIdentity
// (unsigned) through its own STS client, and signs the EC2 call with the
// session. Run by internal/e2e (TestWebIdentityJSSDK).
import { EC2Client, DescribeInstancesCommand } from "@aws-sdk/client-ec2";

const ec2 = new EC2Client({});
try {
  const out = await ec2.send(new DescribeInstancesCommand({}));
  const creds = await ec2.config.credentials();
  const ips = (out.Reservations ?? []).flatMap((r) => (r.Instances ?? []).map((i) => i.PrivateIpAddress));
  console.log(JSON.stringify({ accessKeyPrefix: creds.accessKeyId.slice(0, 4), sessionToken: Boolean(creds.sessionToken), ips }));
} catch (err) {
  console.error(`js-sdk web identity: ${err.name}: ${err.message}`);
  process.exit(1);
}
