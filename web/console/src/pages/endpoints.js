// Instance Connect Endpoints: list with agents and their health; create,
// modify, delete; "Add agent" makes a join token and shows the command.
import * as api from '../api.js';
import {
  h, mount, table, badge, button, pageHeader, errorBox, loading, field, formDialog,
  confirmDialog, tagChips, dialog, copyable, fmtTime, mono, nameTag, toast,
} from '../dom.js';

export async function loadNetwork() {
  const [vpcs, subnets, groups] = await Promise.all([
    api.ec2All('DescribeVpcs', {}, 'vpcSet'),
    api.ec2All('DescribeSubnets', {}, 'subnetSet'),
    api.ec2All('DescribeSecurityGroups', {}, 'securityGroupInfo'),
  ]);
  return { vpcs, subnets, groups };
}

/** A <select> of subnets, labelled with VPC and CIDR. */
export function subnetSelect(subnets, { testid = 'subnet', value = '' } = {}) {
  return h('select', { required: true, testid, name: 'subnet' },
    h('option', { value: '' }, '— choose a subnet —'),
    subnets.map((s) => h('option', { value: s.subnetId, selected: s.subnetId === value },
      `${s.subnetId}${nameTag(s.tagSet) ? ` (${nameTag(s.tagSet)})` : ''} · ${s.vpcId} · ${[s.cidrBlock, firstIPv6(s)].filter(Boolean).join(' ')}`)));
}

function firstIPv6(s) {
  const set = api.list(s.ipv6CidrBlockAssociationSet);
  return set.length ? set[0].ipv6CidrBlock : '';
}

/** Checkboxes of the security groups of one VPC (updated when vpc changes). */
export function groupPicker(groups, { testid = 'groups', selected = [] } = {}) {
  const box = h('div.checks', { testid });
  const picked = new Set(selected);
  const show = (vpcId) => {
    mount(box, ...groups.filter((g) => !vpcId || g.vpcId === vpcId).map((g) => {
      const cb = h('input', { type: 'checkbox', value: g.groupId, checked: picked.has(g.groupId), testid: `${testid}-${g.groupId}` });
      cb.addEventListener('change', () => (cb.checked ? picked.add(g.groupId) : picked.delete(g.groupId)));
      return h('label.check', cb, h('span.mono', g.groupId), ' ', h('span.dim', g.groupName));
    }));
    if (!box.firstChild) mount(box, h('span.dim', vpcId ? 'This VPC has no security groups.' : 'Choose a subnet first.'));
  };
  show('');
  return { el: box, show, values: () => [...picked].filter((id) => box.querySelector(`input[value="${CSS.escape(id)}"]`)) };
}

export function renderEndpoints(view, selectedId) {
  let live = true;
  const body = h('div');
  const refresh = async () => {
    mount(body, loading());
    try {
      const [eps, agents] = await Promise.all([
        api.ec2All('DescribeInstanceConnectEndpoints', {}, 'instanceConnectEndpointSet'),
        api.query('ec2', 'DescribeEndpointAgents', {}).then((r) => api.list(r.endpointAgentSet)).catch((e) => ({ error: e })),
      ]);
      if (!live) return;
      const byEp = new Map();
      if (Array.isArray(agents)) for (const a of agents) {
        if (!byEp.has(a.instanceConnectEndpointId)) byEp.set(a.instanceConnectEndpointId, []);
        byEp.get(a.instanceConnectEndpointId).push(a);
      }
      const cols = [
        { label: 'Endpoint ID / DNS name', value: (e) => [h('a.mono', { href: `#/endpoints/${e.instanceConnectEndpointId}` }, e.instanceConnectEndpointId),
          h('div.mono.small.dim', { testid: `dns-${e.instanceConnectEndpointId}` }, e.dnsName || '')] },
        { label: 'Name', value: (e) => nameTag(e.tagSet) },
        { label: 'State', value: (e) => h('span', { testid: `state-${e.instanceConnectEndpointId}` }, badge(e.state)) },
        { label: 'Subnet / VPC', value: (e) => [h('div.mono', e.subnetId), h('div.mono.dim', e.vpcId)] },
        { label: 'Security groups', value: (e) => api.list(e.securityGroupIdSet).map((g) => h('div.mono', g)) },
        { label: 'Agents', value: (e) => agentSummary(byEp.get(e.instanceConnectEndpointId) || [], agents) },
      ];
      const sel = eps.find((e) => e.instanceConnectEndpointId === selectedId);
      mount(body,
        agents && agents.error ? errorBox(agents.error) : null,
        table(cols, eps, {
          id: (e) => e.instanceConnectEndpointId,
          empty: 'No endpoints yet. Create one in a subnet, then add an agent in that network.',
          selected: selectedId,
          onRow: (e) => { location.hash = `#/endpoints/${e.instanceConnectEndpointId}`; },
        }),
        sel ? endpointDetail(sel, byEp.get(sel.instanceConnectEndpointId) || [], refresh)
          : eps.length ? h('p.dim.hint', 'Select an endpoint to see its agents, add an agent, modify or delete it.') : null);
    } catch (e) {
      if (live) mount(body, errorBox(e));
    }
  };
  mount(view, h('div.page',
    pageHeader('Instance Connect Endpoints', 'Endpoints reach instances in private subnets through an agent running in that network.',
      button('Refresh', () => refresh(), { testid: 'refresh' }),
      button('Create endpoint', () => createDialog(refresh), { kind: 'primary', testid: 'create-endpoint' })),
    body));
  refresh();
  return () => { live = false; };
}

/** Add agent, Modify, Delete for one endpoint. */
function endpointActions(e, refresh) {
  const id = e.instanceConnectEndpointId;
  return h('div.btn-row',
    button('Add agent', () => joinTokenDialog(e), { testid: `add-agent-${id}` }),
    button('Modify', () => modifyDialog(e, refresh), { testid: `modify-${id}` }),
    button('Delete', () => confirmDialog('Delete endpoint', `Delete ${id}? Its agents stop serving tunnels.`, async () => {
      await api.query('ec2', 'DeleteInstanceConnectEndpoint', { InstanceConnectEndpointId: id });
      toast(`Deleting ${id}.`);
      refresh();
    }), { kind: 'danger-ghost', testid: `delete-${id}` }));
}

function agentSummary(agents, all) {
  if (all && all.error) return h('span.dim', 'not visible');
  const live = agents.filter((a) => a.state !== 'revoked');
  if (live.length === 0) return h('span.dim', 'none');
  return live.map((a) => h('div.agent', badge(a.state), ' ', h('span', a.name || a.agentId)));
}

function endpointDetail(e, agents, refresh) {
  const id = e.instanceConnectEndpointId;
  return h('section.detail', { testid: `detail-${id}` },
    h('div.section-head', h('h2', `Endpoint ${id}`), endpointActions(e, refresh)),
    h('dl.props',
      prop('ARN', mono(e.instanceConnectEndpointArn)), prop('State', badge(e.state)),
      e.stateMessage ? prop('State message', e.stateMessage) : null,
      prop('DNS name', copyable(e.dnsName || '')), prop('Availability Zone', e.availabilityZone),
      prop('IP address type', e.ipAddressType), prop('Preserve client IP', e.preserveClientIp === 'true' ? 'Yes' : 'No'),
      prop('Created', fmtTime(e.createdAt)),
      prop('Tags', tagChips(e.tagSet) || '')),
    h('h3', 'Agents'),
    table([
      { label: 'Agent ID', value: (a) => mono(a.agentId) },
      { label: 'Name', value: (a) => a.name },
      { label: 'Health', value: (a) => badge(a.state) },
      { label: 'Address', value: (a) => mono(a.address) },
      { label: 'Version', value: (a) => a.version },
      { label: 'Connected since / last seen', value: (a) => (a.connectedSince ? fmtTime(a.connectedSince)
        : a.lastConnectedAt ? h('span.dim', { title: 'Last connected' }, `last ${fmtTime(a.lastConnectedAt)}`) : '') },
      { label: 'Tunnels', value: (a) => String(Number(a.tunnels) || 0), class: 'num' },
      { label: '', class: 'row-actions', value: (a) => (a.state === 'revoked' || a.embedded === 'true' ? null
        : button('Revoke', () => confirmDialog('Revoke agent', `Revoke ${a.agentId}? Its link and tunnels close and it can never reconnect.`, async () => {
          await api.query('ec2', 'RevokeEndpointAgent', { AgentId: a.agentId });
          refresh();
        }, { label: 'Revoke' }), { kind: 'danger-ghost', testid: `revoke-${a.agentId}` })) },
    ], agents, { id: (a) => a.agentId, empty: 'No agent has joined this endpoint. Use "Add agent".' }));
}

function prop(label, value) {
  return [h('dt', label), h('dd', value === '' || value === undefined ? h('span.dim', '—') : value)];
}

async function createDialog(refresh) {
  let net;
  try {
    net = await loadNetwork();
  } catch (e) {
    dialog('Create endpoint', () => errorBox(e));
    return;
  }
  const subnet = subnetSelect(net.subnets, { testid: 'create-endpoint-subnet' });
  const groups = groupPicker(net.groups, { testid: 'create-endpoint-groups' });
  subnet.addEventListener('change', () => {
    const s = net.subnets.find((x) => x.subnetId === subnet.value);
    groups.show(s ? s.vpcId : '');
  });
  const preserve = h('input', { type: 'checkbox', testid: 'create-endpoint-preserve' });
  const ipType = h('select', { testid: 'create-endpoint-iptype' }, h('option', { value: '' }, 'default'),
    ['ipv4', 'dualstack', 'ipv6'].map((v) => h('option', { value: v }, v)));
  const name = h('input', { placeholder: 'optional', testid: 'create-endpoint-name' });
  formDialog('Create Instance Connect Endpoint', () => [
    field('Subnet', subnet),
    field('Security groups', groups.el, 'None chosen: the VPC\'s default group.'),
    h('label.check', preserve, ' Preserve client IP', h('span.help', ' Instances see the client\'s address instead of the endpoint\'s.')),
    field('IP address type', ipType),
    field('Name tag', name)],
  async (close) => {
    const p = { SubnetId: subnet.value, IpAddressType: ipType.value, ClientToken: crypto.randomUUID() };
    if (preserve.checked) p.PreserveClientIp = 'true';
    api.flat('SecurityGroupId', groups.values(), p);
    if (name.value.trim()) Object.assign(p, api.flat('TagSpecification', [{ ResourceType: 'instance-connect-endpoint', Tag: [{ Key: 'Name', Value: name.value.trim() }] }]));
    const r = await api.query('ec2', 'CreateInstanceConnectEndpoint', p);
    close();
    toast(`Created ${r.instanceConnectEndpoint ? r.instanceConnectEndpoint.instanceConnectEndpointId : 'the endpoint'}. Add an agent to make it create-complete.`);
    refresh();
  }, { submitLabel: 'Create', testid: 'create-endpoint-dialog' });
}

async function modifyDialog(e, refresh) {
  let net;
  try {
    net = await loadNetwork();
  } catch (err) {
    dialog('Modify endpoint', () => errorBox(err));
    return;
  }
  const groups = groupPicker(net.groups, { testid: 'modify-endpoint-groups', selected: api.list(e.securityGroupIdSet) });
  groups.show(e.vpcId);
  const preserve = h('input', { type: 'checkbox', checked: e.preserveClientIp === 'true', testid: 'modify-endpoint-preserve' });
  formDialog(`Modify ${e.instanceConnectEndpointId}`, () => [
    field('Security groups', groups.el),
    h('label.check', preserve, ' Preserve client IP')],
  async (close) => {
    const p = { InstanceConnectEndpointId: e.instanceConnectEndpointId, PreserveClientIp: preserve.checked ? 'true' : 'false' };
    api.flat('SecurityGroupId', groups.values(), p);
    await api.query('ec2', 'ModifyInstanceConnectEndpoint', p);
    close();
    refresh();
  }, { submitLabel: 'Save', testid: 'modify-endpoint-dialog' });
}

function joinTokenDialog(e) {
  const ttl = h('select', { testid: 'join-token-ttl' },
    [[900, '15 minutes'], [3600, '1 hour'], [86400, '24 hours']].map(([v, l]) => h('option', { value: String(v) }, l)));
  formDialog(`Add an agent to ${e.instanceConnectEndpointId}`, () => [
    h('p', 'A join token lets one new agent join this endpoint, once, before it expires. Run the agent on a machine inside the endpoint\'s network; it dials out to this server (no inbound port).'),
    field('Token lifetime', ttl)],
  async (close) => {
    const r = await api.query('ec2', 'CreateEndpointJoinToken', { InstanceConnectEndpointId: e.instanceConnectEndpointId, ExpiresInSeconds: ttl.value });
    close();
    const cmd = `postern endpoint-agent --join-token ${r.joinToken}`;
    dialog('Run the agent', () => [
      h('p', 'On a machine inside the network, with the postern binary installed, run:'),
      copyable(cmd, { testid: 'join-command', block: true }),
      h('p.dim', `The token works once and expires at ${fmtTime(r.expiresAt)}. Server: ${r.server}. The agent keeps its identity in --state-dir; later starts need no token.`),
      h('p.dim', 'Or keep the token out of the command line: POSTERN_JOIN_TOKEN=<token> postern endpoint-agent'),
    ], { wide: true, testid: 'join-token-result' });
  }, { submitLabel: 'Create join token', testid: 'join-token-dialog' });
}
