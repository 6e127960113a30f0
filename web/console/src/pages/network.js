// Network: VPCs, subnets, security groups and their rules.
import * as api from '../api.js';
import {
  h, mount, table, badge, button, pageHeader, errorBox, loading, field, formDialog,
  confirmDialog, mono, nameTag, tabs, toast,
} from '../dom.js';

const TABS = [['#/network/vpcs', 'VPCs'], ['#/network/subnets', 'Subnets'], ['#/network/security-groups', 'Security groups']];

export function renderNetwork(view, kind, selected) {
  let live = true;
  const body = h('div');
  const actions = h('div.actions');
  const title = { vpcs: 'VPCs', subnets: 'Subnets', 'security-groups': 'Security groups' }[kind];
  const refresh = async () => {
    mount(body, loading());
    try {
      const node = await ({ vpcs: vpcsView, subnets: subnetsView, 'security-groups': groupsView })[kind](refresh, selected);
      if (live) mount(body, node);
    } catch (e) {
      if (live) mount(body, errorBox(e));
    }
  };
  const create = {
    vpcs: () => createVpcDialog(refresh),
    subnets: () => createSubnetDialog(refresh),
    'security-groups': () => createGroupDialog(refresh),
  }[kind];
  mount(view, h('div.page',
    pageHeader(title, 'The private networks Postern reaches and the rules that guard them.',
      button('Refresh', () => refresh(), { testid: 'refresh' }),
      button(`Create ${kind === 'vpcs' ? 'VPC' : kind === 'subnets' ? 'subnet' : 'security group'}`, create, { kind: 'primary', testid: `create-${kind}` })),
    tabs(TABS, `#/network/${kind}`),
    actions, body));
  refresh();
  return () => { live = false; };
}

function firstIPv6(x) {
  const set = api.list(x.ipv6CidrBlockAssociationSet);
  return set.length ? set.map((a) => a.ipv6CidrBlock).join(', ') : '';
}

async function vpcsView(refresh) {
  const vpcs = await api.ec2All('DescribeVpcs', {}, 'vpcSet');
  return table([
    { label: 'VPC ID', value: (v) => mono(v.vpcId) },
    { label: 'Name', value: (v) => nameTag(v.tagSet) },
    { label: 'State', value: (v) => badge(v.state) },
    { label: 'IPv4 CIDR', value: (v) => mono(api.list(v.cidrBlockAssociationSet).map((a) => a.cidrBlock).join(', ') || v.cidrBlock) },
    { label: 'IPv6 CIDR', value: (v) => mono(firstIPv6(v)) },
    { label: 'Default', value: (v) => (v.isDefault === 'true' ? 'Yes' : 'No') },
    { label: '', class: 'row-actions', value: (v) => button('Delete', () => confirmDialog('Delete VPC', `Delete ${v.vpcId}? It must have no subnets or groups left.`, async () => {
      await api.query('ec2', 'DeleteVpc', { VpcId: v.vpcId });
      refresh();
    }), { kind: 'danger-ghost', testid: `delete-${v.vpcId}` }) },
  ], vpcs, { id: (v) => v.vpcId, empty: 'No VPCs.' });
}

async function subnetsView(refresh) {
  const subnets = await api.ec2All('DescribeSubnets', {}, 'subnetSet');
  return table([
    { label: 'Subnet ID', value: (s) => mono(s.subnetId) },
    { label: 'Name', value: (s) => nameTag(s.tagSet) },
    { label: 'State', value: (s) => badge(s.state) },
    { label: 'VPC', value: (s) => mono(s.vpcId) },
    { label: 'IPv4 CIDR', value: (s) => mono(s.cidrBlock) },
    { label: 'IPv6 CIDR', value: (s) => mono(firstIPv6(s)) },
    { label: 'Availability Zone', value: (s) => s.availabilityZone },
    { label: 'Free IPv4', value: (s) => s.availableIpAddressCount, class: 'num' },
    { label: '', class: 'row-actions', value: (s) => button('Delete', () => confirmDialog('Delete subnet', `Delete ${s.subnetId}?`, async () => {
      await api.query('ec2', 'DeleteSubnet', { SubnetId: s.subnetId });
      refresh();
    }), { kind: 'danger-ghost', testid: `delete-${s.subnetId}` }) },
  ], subnets, { id: (s) => s.subnetId, empty: 'No subnets.' });
}

function portRange(r) {
  if (r.ipProtocol === '-1') return 'All';
  const from = Number(r.fromPort), to = Number(r.toPort);
  if ((r.ipProtocol === 'icmp' || r.ipProtocol === 'icmpv6' || r.ipProtocol === '1' || r.ipProtocol === '58')) return from === -1 ? 'All' : `type ${from}${to !== -1 ? ` code ${to}` : ''}`;
  if (from === -1 || Number.isNaN(from)) return 'All';
  return from === to ? String(from) : `${from}–${to}`;
}
function protoName(p) {
  return { '-1': 'All traffic', 6: 'TCP', 17: 'UDP', 1: 'ICMP', 58: 'ICMPv6', tcp: 'TCP', udp: 'UDP', icmp: 'ICMP', icmpv6: 'ICMPv6' }[p] || p;
}
function peer(r) {
  if (r.cidrIpv4) return r.cidrIpv4;
  if (r.cidrIpv6) return r.cidrIpv6;
  if (r.referencedGroupInfo && r.referencedGroupInfo.groupId) return r.referencedGroupInfo.groupId;
  return '';
}

async function groupsView(refresh, selected) {
  const [groups, rules] = await Promise.all([
    api.ec2All('DescribeSecurityGroups', {}, 'securityGroupInfo'),
    api.ec2All('DescribeSecurityGroupRules', {}, 'securityGroupRuleSet'),
  ]);
  const byGroup = new Map();
  for (const r of rules) {
    if (!byGroup.has(r.groupId)) byGroup.set(r.groupId, []);
    byGroup.get(r.groupId).push(r);
  }
  const ruleTable = (g, egress) => {
    const rs = (byGroup.get(g.groupId) || []).filter((r) => (r.isEgress === 'true') === egress);
    return table([
      { label: 'Rule ID', value: (r) => mono(r.securityGroupRuleId) },
      { label: 'Protocol', value: (r) => protoName(r.ipProtocol) },
      { label: 'Ports', value: (r) => portRange(r) },
      { label: egress ? 'Destination' : 'Source', value: (r) => mono(peer(r)) },
      { label: 'Description', value: (r) => r.description },
      { label: '', class: 'row-actions', value: (r) => button('Revoke', () => confirmDialog('Revoke rule', `Revoke ${r.securityGroupRuleId} from ${g.groupId}?`, async () => {
        await api.query('ec2', egress ? 'RevokeSecurityGroupEgress' : 'RevokeSecurityGroupIngress', { GroupId: g.groupId, 'SecurityGroupRuleId.1': r.securityGroupRuleId });
        refresh();
      }, { label: 'Revoke' }), { kind: 'danger-ghost', testid: `revoke-${r.securityGroupRuleId}` }) },
    ], rs, { id: (r) => r.securityGroupRuleId, empty: egress ? 'No outbound rules: nothing leaves.' : 'No inbound rules: nothing gets in.' });
  };
  const detail = (g) => h('section.detail', { testid: `detail-${g.groupId}` },
    h('h2', `${g.groupName} (${g.groupId})`),
    h('p.dim', g.groupDescription),
    h('div.section-head', h('h3', 'Inbound rules'), button('Add inbound rule', () => ruleDialog(g, false, refresh), { testid: `add-ingress-${g.groupId}` })),
    ruleTable(g, false),
    h('div.section-head', h('h3', 'Outbound rules'), button('Add outbound rule', () => ruleDialog(g, true, refresh), { testid: `add-egress-${g.groupId}` })),
    ruleTable(g, true));
  const sel = groups.find((g) => g.groupId === selected);
  return h('div',
    table([
      { label: 'Group ID', value: (g) => h('a.mono', { href: `#/network/security-groups/${g.groupId}` }, g.groupId) },
      { label: 'Name', value: (g) => g.groupName },
      { label: 'VPC', value: (g) => mono(g.vpcId) },
      { label: 'Description', value: (g) => g.groupDescription },
      { label: 'Inbound', value: (g) => String((byGroup.get(g.groupId) || []).filter((r) => r.isEgress !== 'true').length), class: 'num' },
      { label: 'Outbound', value: (g) => String((byGroup.get(g.groupId) || []).filter((r) => r.isEgress === 'true').length), class: 'num' },
      { label: '', class: 'row-actions', value: (g) => button('Delete', () => confirmDialog('Delete security group', `Delete ${g.groupId} (${g.groupName})?`, async () => {
        await api.query('ec2', 'DeleteSecurityGroup', { GroupId: g.groupId });
        if (selected === g.groupId) location.hash = '#/network/security-groups';
        refresh();
      }), { kind: 'danger-ghost', testid: `delete-${g.groupId}` }) },
    ], groups, { id: (g) => g.groupId, empty: 'No security groups.', selected, onRow: (g) => { location.hash = `#/network/security-groups/${g.groupId}`; } }),
    sel ? detail(sel) : h('p.dim.hint', 'Select a group to see and edit its rules.'));
}

function ruleDialog(g, egress, refresh) {
  const proto = h('select', { testid: 'rule-protocol' },
    [['tcp', 'TCP'], ['udp', 'UDP'], ['icmp', 'ICMP'], ['icmpv6', 'ICMPv6'], ['-1', 'All traffic']].map(([v, l]) => h('option', { value: v }, l)));
  const from = h('input', { type: 'number', value: '22', testid: 'rule-from', min: '-1', max: '65535' });
  const to = h('input', { type: 'number', value: '22', testid: 'rule-to', min: '-1', max: '65535' });
  const peerIn = h('input', { required: true, placeholder: '10.0.0.0/16, ::/0 or sg-…', testid: 'rule-peer', autocomplete: 'off' });
  const desc = h('input', { placeholder: 'optional', testid: 'rule-description' });
  from.addEventListener('change', () => { if (!to.value || Number(to.value) < Number(from.value)) to.value = from.value; });
  formDialog(`${egress ? 'Outbound' : 'Inbound'} rule for ${g.groupId}`, () => [
    field('Protocol', proto),
    h('div.row2', field('From port', from), field('To port', to)),
    field(egress ? 'Destination' : 'Source', peerIn, 'An IPv4 or IPv6 CIDR, or a security group id.'),
    field('Description', desc)],
  async (close) => {
    const perm = { IpProtocol: proto.value };
    if (proto.value !== '-1') { perm.FromPort = from.value; perm.ToPort = to.value; }
    const p = peerIn.value.trim();
    const d = desc.value.trim() || undefined;
    if (p.startsWith('sg-')) perm.Groups = [{ GroupId: p, Description: d }];
    else if (p.includes(':')) perm.Ipv6Ranges = [{ CidrIpv6: p, Description: d }];
    else perm.IpRanges = [{ CidrIp: p, Description: d }];
    const params = { GroupId: g.groupId, ...api.flat('IpPermissions', [perm]) };
    await api.query('ec2', egress ? 'AuthorizeSecurityGroupEgress' : 'AuthorizeSecurityGroupIngress', params);
    close();
    toast('Rule added.');
    refresh();
  }, { submitLabel: 'Add rule', testid: 'rule-dialog' });
}

async function createGroupDialog(refresh) {
  let vpcs;
  try { vpcs = await api.ec2All('DescribeVpcs', {}, 'vpcSet'); } catch (e) { toast(`${e.code}: ${e.message}`); return; }
  const vpc = h('select', { required: true, testid: 'group-vpc' }, vpcs.map((v) => h('option', { value: v.vpcId }, `${v.vpcId}${nameTag(v.tagSet) ? ` (${nameTag(v.tagSet)})` : ''} · ${v.cidrBlock || ''}`)));
  const name = h('input', { required: true, testid: 'group-name', autocomplete: 'off' });
  const desc = h('input', { required: true, testid: 'group-description' });
  formDialog('Create security group', () => [field('VPC', vpc), field('Name', name), field('Description', desc)], async (close) => {
    const r = await api.query('ec2', 'CreateSecurityGroup', { VpcId: vpc.value, GroupName: name.value.trim(), GroupDescription: desc.value.trim() });
    close();
    location.hash = `#/network/security-groups/${r.groupId}`;
  }, { submitLabel: 'Create', testid: 'create-group-dialog' });
}

function createVpcDialog(refresh) {
  const cidr = h('input', { required: true, placeholder: '10.0.0.0/16', testid: 'vpc-cidr', autocomplete: 'off' });
  const ipv6 = h('input', { placeholder: 'optional, e.g. fd00:1::/56', testid: 'vpc-ipv6', autocomplete: 'off' });
  const name = h('input', { placeholder: 'optional', testid: 'vpc-name' });
  formDialog('Create VPC', () => [field('IPv4 CIDR block', cidr), field('IPv6 CIDR block', ipv6), field('Name tag', name)], async (close) => {
    const p = { CidrBlock: cidr.value.trim(), Ipv6CidrBlock: ipv6.value.trim() };
    if (name.value.trim()) Object.assign(p, api.flat('TagSpecification', [{ ResourceType: 'vpc', Tag: [{ Key: 'Name', Value: name.value.trim() }] }]));
    await api.query('ec2', 'CreateVpc', p);
    close();
    refresh();
  }, { submitLabel: 'Create', testid: 'create-vpc-dialog' });
}

async function createSubnetDialog(refresh) {
  let vpcs;
  try { vpcs = await api.ec2All('DescribeVpcs', {}, 'vpcSet'); } catch (e) { toast(`${e.code}: ${e.message}`); return; }
  const vpc = h('select', { required: true, testid: 'subnet-vpc' }, vpcs.map((v) => h('option', { value: v.vpcId }, `${v.vpcId} · ${v.cidrBlock || ''}`)));
  const cidr = h('input', { placeholder: '10.0.1.0/24', testid: 'subnet-cidr', autocomplete: 'off' });
  const ipv6 = h('input', { placeholder: 'optional', testid: 'subnet-ipv6', autocomplete: 'off' });
  const az = h('input', { placeholder: 'optional', testid: 'subnet-az', autocomplete: 'off' });
  const name = h('input', { placeholder: 'optional', testid: 'subnet-name' });
  formDialog('Create subnet', () => [field('VPC', vpc), field('IPv4 CIDR block', cidr), field('IPv6 CIDR block', ipv6), field('Availability Zone', az), field('Name tag', name)], async (close) => {
    const p = { VpcId: vpc.value, CidrBlock: cidr.value.trim(), Ipv6CidrBlock: ipv6.value.trim(), AvailabilityZone: az.value.trim() };
    if (name.value.trim()) Object.assign(p, api.flat('TagSpecification', [{ ResourceType: 'subnet', Tag: [{ Key: 'Name', Value: name.value.trim() }] }]));
    await api.query('ec2', 'CreateSubnet', p);
    close();
    refresh();
  }, { submitLabel: 'Create', testid: 'create-subnet-dialog' });
}
