// Unit tests of the page's pure functions (node --test; no browser).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { flat, list } from '../src/api.js';
import { parseCast } from '../src/pages/cast.js';

test('flat builds AWS Query parameter names', () => {
  const cases = [
    { name: 'scalars', prefix: 'SecurityGroupId', in: ['sg-1', 'sg-2'], want: { 'SecurityGroupId.1': 'sg-1', 'SecurityGroupId.2': 'sg-2' } },
    { name: 'empty', prefix: 'SecurityGroupId', in: [], want: {} },
    {
      name: 'tag specification',
      prefix: 'TagSpecification',
      in: [{ ResourceType: 'instance', Tag: [{ Key: 'Name', Value: 'web' }, { Key: 'env', Value: 'prod' }] }],
      want: {
        'TagSpecification.1.ResourceType': 'instance',
        'TagSpecification.1.Tag.1.Key': 'Name', 'TagSpecification.1.Tag.1.Value': 'web',
        'TagSpecification.1.Tag.2.Key': 'env', 'TagSpecification.1.Tag.2.Value': 'prod',
      },
    },
    {
      name: 'ip permissions',
      prefix: 'IpPermissions',
      in: [{ IpProtocol: 'tcp', FromPort: '22', ToPort: '22', IpRanges: [{ CidrIp: '10.0.0.0/16', Description: undefined }] }],
      want: {
        'IpPermissions.1.IpProtocol': 'tcp', 'IpPermissions.1.FromPort': '22', 'IpPermissions.1.ToPort': '22',
        'IpPermissions.1.IpRanges.1.CidrIp': '10.0.0.0/16', 'IpPermissions.1.IpRanges.1.Description': undefined,
      },
    },
    {
      name: 'filters',
      prefix: 'Filter',
      in: [{ Name: 'vpc-id', Value: ['vpc-1', 'vpc-2'] }],
      want: { 'Filter.1.Name': 'vpc-id', 'Filter.1.Value.1': 'vpc-1', 'Filter.1.Value.2': 'vpc-2' },
    },
  ];
  for (const c of cases) assert.deepEqual(flat(c.prefix, c.in), c.want, c.name);
});

test('list reads XML sets', () => {
  const cases = [[undefined, []], ['', []], [[1, 2], [1, 2]], [{ a: 1 }, [{ a: 1 }]]];
  for (const [input, want] of cases) assert.deepEqual(list(input), want);
});

test('parseCast reads asciicast v2', () => {
  const text = '{"version":2,"width":100,"height":30}\n[0.5,"o","hé\\r\\n"]\n[1.25,"r","120x40"]\n[2,"i","x"]\n[2.5,"o","torn';
  const { header, events } = parseCast(text);
  assert.equal(header.width, 100);
  assert.deepEqual(events, [[0.5, 'o', 'hé\r\n'], [1.25, 'r', '120x40'], [2, 'i', 'x']]);
  assert.throws(() => parseCast(''), /empty/);
  assert.throws(() => parseCast('not json\n'), /header/);
});
