// Live tunnels (ListTunnels): who, from where, to what, bytes, time left;
// TerminateTunnel. Refreshes itself every 5 seconds while shown.
import * as api from '../api.js';
import { h, mount, table, button, pageHeader, errorBox, loading, confirmDialog, mono, fmtBytes, fmtDuration, fmtTime, toast } from '../dom.js';

/** The part of an ARN after the account: user/alice, assumed-role/Ops/s. */
export function shortArn(arn) {
  const parts = String(arn || '').split(':');
  return parts.length >= 6 ? parts.slice(5).join(':') : String(arn || '');
}

export function renderTunnels(view) {
  let live = true;
  let timer = 0;
  const body = h('div');
  const refresh = async (quiet) => {
    clearTimeout(timer);
    if (!quiet) mount(body, loading());
    try {
      const r = await api.jsonCall('ec2-instance-connect', 'ListTunnels', {});
      if (!live) return;
      const rows = r.Tunnels || [];
      mount(body, table([
        { label: 'Tunnel ID', value: (t) => mono(t.TunnelId) },
        { label: 'Who / from', value: (t) => [h('div.mono.small', { title: t.Principal, testid: `who-${t.TunnelId}` }, shortArn(t.Principal)),
          h('div.mono.small.dim', { testid: `from-${t.TunnelId}` }, t.SourceIp)] },
        { label: 'To', value: (t) => mono(`${t.PrivateIpAddress}:${t.RemotePort}`) },
        { label: 'Open for', value: (t) => h('span', { title: `since ${fmtTime(t.StartedAt)}` }, fmtDuration(Date.now() / 1000 - Number(t.StartedAt))), class: 'num' },
        { label: 'In / out', value: (t) => [h('div', { title: 'bytes to the instance', testid: `bytes-in-${t.TunnelId}` }, fmtBytes(t.BytesIn)),
          h('div.dim', { title: 'bytes from the instance', testid: `bytes-out-${t.TunnelId}` }, fmtBytes(t.BytesOut))], class: 'num' },
        { label: 'Time left', value: (t) => h('span', { testid: `time-left-${t.TunnelId}` }, fmtDuration(t.SecondsLeft)), class: 'num' },
        { label: 'Endpoint / agent', value: (t) => [h('div.mono', t.InstanceConnectEndpointId), h('div.mono.small.dim', t.AgentId)] },
        { label: '', class: 'row-actions', value: (t) => button('Terminate', () => confirmDialog('Terminate tunnel', `Terminate ${t.TunnelId}? The connection closes at once.`, async () => {
          const res = await api.jsonCall('ec2-instance-connect', 'TerminateTunnel', { TunnelId: t.TunnelId });
          toast(res.Terminated ? `Terminated ${t.TunnelId}.` : `${t.TunnelId} had already closed.`);
          refresh(true);
        }, { label: 'Terminate' }), { kind: 'danger-ghost', testid: `terminate-${t.TunnelId}` }) },
      ], rows, { id: (t) => t.TunnelId, empty: 'No open tunnels.' }));
    } catch (e) {
      if (live) mount(body, errorBox(e));
    }
    if (live) timer = setTimeout(() => refresh(true), 5000);
  };
  mount(view, h('div.page',
    pageHeader('Live tunnels', 'Every open tunnel through this server, from any client.', button('Refresh', () => refresh(), { testid: 'refresh' })),
    body));
  refresh();
  return () => { live = false; clearTimeout(timer); };
}
