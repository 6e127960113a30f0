// Instances: list, register, deregister, and Connect (OS user and port,
// then the terminal view).
import * as api from '../api.js';
import {
  h, mount, table, badge, button, pageHeader, errorBox, loading, field, formDialog,
  confirmDialog, dialog, nameTag, toast, tagChips, clipped,
} from '../dom.js';
import { loadNetwork, subnetSelect, groupPicker } from './endpoints.js';

export async function describeInstances(params = {}) {
  const res = await api.ec2All('DescribeInstances', params, 'reservationSet');
  return res.flatMap((r) => api.list(r.instancesSet));
}

export function renderInstances(view) {
  let live = true;
  const body = h('div');
  const filter = h('input.search', { type: 'search', placeholder: 'Filter by id, name, address, tag…', testid: 'instances-filter' });
  let all = [];
  const draw = () => {
    const q = filter.value.trim().toLowerCase();
    const rows = q ? all.filter((i) => JSON.stringify(i).toLowerCase().includes(q)) : all;
    mount(body, table([
      { label: 'Instance ID / Name', value: (i) => [h('div.mono', i.instanceId), nameTag(i.tagSet) ? h('div.small', nameTag(i.tagSet)) : null] },
      { label: 'State', value: (i) => badge(i.instanceState && i.instanceState.name) },
      { label: 'Private address', value: (i) => [i.privateIpAddress ? h('div.mono', { testid: `ipv4-${i.instanceId}` }, i.privateIpAddress) : null,
        i.ipv6Address ? h('div.mono', { testid: `ipv6-${i.instanceId}` }, i.ipv6Address) : null] },
      { label: 'Subnet / VPC', value: (i) => [h('div.mono', i.subnetId), h('div.mono.dim', i.vpcId)] },
      { label: 'Security groups', value: (i) => api.list(i.groupSet).map((g) => h('div.sg', h('div.mono', g.groupId), g.groupName ? h('div.small.dim', clipped(g.groupName)) : null)) },
      { label: 'Tags', class: 'tags-cell', value: (i) => tagChips(i.tagSet, { skip: ['Name'] }) },
      { label: 'Actions', class: 'row-actions', value: (i) => h('div.btn-row',
        button('Connect', () => connectDialog(i), { kind: 'primary', testid: `connect-${i.instanceId}` }),
        button('Deregister', () => confirmDialog('Deregister instance', `Deregister ${i.instanceId}? The server itself is not touched; Postern forgets it.`, async () => {
          await api.query('ec2', 'DeregisterInstance', { InstanceId: i.instanceId });
          refresh();
        }, { label: 'Deregister' }), { kind: 'danger-ghost', testid: `deregister-${i.instanceId}` })) },
    ], rows, { id: (i) => i.instanceId, empty: all.length ? 'No instance matches the filter.' : 'No instances yet. Register a server to connect to it.' }));
  };
  filter.addEventListener('input', draw);
  const refresh = async () => {
    mount(body, loading());
    try {
      all = await describeInstances();
      if (live) draw();
    } catch (e) {
      if (live) mount(body, errorBox(e));
    }
  };
  mount(view, h('div.page',
    pageHeader('Instances', 'Servers reachable through an Instance Connect Endpoint.',
      filter,
      button('Refresh', () => refresh(), { testid: 'refresh' }),
      button('Register instance', () => registerDialog(refresh), { kind: 'primary', testid: 'register-instance' })),
    body));
  refresh();
  return () => { live = false; };
}

export function connectDialog(inst) {
  const user = h('input#connect-user', { value: 'ec2-user', required: true, testid: 'connect-user', autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false' });
  const port = h('input#connect-port', { type: 'number', value: '22', min: '1', max: '65535', required: true, testid: 'connect-port' });
  formDialog(`Connect to ${nameTag(inst.tagSet) || inst.instanceId}`, () => [
    h('p.dim', `${inst.instanceId} · ${inst.privateIpAddress || inst.ipv6Address || ''}. A one-time key is pushed for the OS user (SendSSHPublicKey) and a tunnel is opened through its endpoint, as you.`),
    field('OS user', user), field('Port', port)],
  async (close) => {
    close();
    const q = new URLSearchParams({ user: user.value.trim(), port: port.value });
    location.hash = `#/connect/${encodeURIComponent(inst.instanceId)}?${q}`;
  }, { submitLabel: 'Connect', testid: 'connect-dialog' });
}

async function registerDialog(refresh) {
  let net;
  try {
    net = await loadNetwork();
  } catch (e) {
    dialog('Register instance', () => errorBox(e));
    return;
  }
  const subnet = subnetSelect(net.subnets, { testid: 'register-subnet' });
  const groups = groupPicker(net.groups, { testid: 'register-groups' });
  subnet.addEventListener('change', () => {
    const s = net.subnets.find((x) => x.subnetId === subnet.value);
    groups.show(s ? s.vpcId : '');
  });
  const ip4 = h('input', { placeholder: '10.0.1.15', testid: 'register-ipv4', autocomplete: 'off' });
  const ip6 = h('input', { placeholder: 'optional', testid: 'register-ipv6', autocomplete: 'off' });
  const platform = h('select', { testid: 'register-platform' }, h('option', { value: 'linux' }, 'Linux/UNIX'), h('option', { value: 'windows' }, 'Windows'));
  const name = h('input', { placeholder: 'optional', testid: 'register-name' });
  formDialog('Register instance', () => [
    h('p.dim', 'Record an existing server so people can connect to it. Its address must be inside the subnet.'),
    field('Subnet', subnet),
    field('Private IPv4 address', ip4, 'Required unless the subnet is IPv6-only.'),
    field('IPv6 address', ip6),
    field('Security groups', groups.el, 'None chosen: the VPC\'s default group.'),
    field('Platform', platform),
    field('Name tag', name)],
  async (close) => {
    const p = { SubnetId: subnet.value, PrivateIpAddress: ip4.value.trim(), Ipv6Address: ip6.value.trim(), Platform: platform.value };
    api.flat('SecurityGroupId', groups.values(), p);
    if (name.value.trim()) Object.assign(p, api.flat('TagSpecification', [{ ResourceType: 'instance', Tag: [{ Key: 'Name', Value: name.value.trim() }] }]));
    const r = await api.query('ec2', 'RegisterInstance', p);
    close();
    const inst = api.list(r.instancesSet)[0];
    toast(`Registered ${inst ? inst.instanceId : 'the instance'}.`);
    refresh();
  }, { submitLabel: 'Register', testid: 'register-dialog' });
}
