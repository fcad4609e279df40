/** Pure renderings of the tree: Prometheus metrics, `hydra node tree` and `hydra node status`. */
import t from 'tap';
import type { NodeTreeReport } from '../../node/adminRoutes.js';
import { counterName, renderMetrics } from '../../node/metrics.js';
import { formatDuration, renderStatus, renderTree } from '../../node/nodeView.js';
import type { ChildInfo } from '../../supervisor/types.js';

function child(id: string, more: Partial<ChildInfo> = {}): ChildInfo {
  return { id, kind: 'worker', pid: null, port: null, state: 'running', restarts: 0, version: null, restart: 'permanent', startedAt: 0, uptimeMs: 65_000, lastExit: null, status: null, ...more };
}

const tree: ChildInfo = child('node', {
  kind: 'supervisor', pid: 100, strategy: 'one_for_one',
  children: [
    child('system', { kind: 'supervisor', pid: 100, strategy: 'rest_for_one', children: [child('admin-http', { pid: 100 })] }),
    child('services', {
      kind: 'supervisor', pid: 100, strategy: 'one_for_one',
      children: [
        child('ping#1', { pid: 201, version: '1.0.0', restarts: 2, uptimeMs: 3_000, status: { healthy: true, counters: { httpRequests: 7, handled_total: 3 } } }),
        child('echo#1', { pid: null, version: '2.1.0', state: 'restarting', uptimeMs: null }),
      ],
    }),
  ],
});
const report: NodeTreeReport = { nodeId: 'n1', version: '0.1.0', pid: 100, adminUrl: 'http://127.0.0.1:7070', startedAt: '2025-01-01T00:00:00.000Z', uptimeMs: 3_725_000, tree };

t.test('metrics: one family per metric, each child by its path, service counters as _total', async (t) => {
  const text = renderMetrics({ nodeId: 'n1', version: '0.1.0', uptimeSeconds: 12.5, rssBytes: 1024, tree, childRss: (pid) => (pid === 201 ? 4096 : null) });
  t.match(text, '# TYPE hydra_child_restarts_total counter\n');
  t.match(text, 'hydra_child_up{node="n1",path="services/ping#1",kind="worker",version="1.0.0"} 1\n');
  t.match(text, 'hydra_child_up{node="n1",path="services/echo#1",kind="worker",version="2.1.0"} 0\n');
  t.match(text, 'hydra_child_restarts_total{node="n1",path="services/ping#1"} 2\n');
  t.match(text, 'hydra_child_uptime_seconds{node="n1",path="system/admin-http"} 65\n');
  t.match(text, 'hydra_child_resident_memory_bytes{node="n1",path="services/ping#1"} 4096\n');
  t.match(text, 'hydra_service_http_requests_total{node="n1",path="services/ping#1"} 7\n');
  t.match(text, 'hydra_service_handled_total{node="n1",path="services/ping#1"} 3\n');
  t.match(text, 'hydra_node_resident_memory_bytes{node="n1"} 1024\n');
  const types = text.split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]);
  t.equal(new Set(types).size, types.length, 'each family declared once');
  t.equal(counterName('deadLettered'), 'hydra_service_dead_lettered_total');
  t.equal(counterName('http-errors'), 'hydra_service_http_errors_total');
});

t.test('durations read at a glance', async (t) => {
  t.same([0, 12_400, 182_000, 7_380_000, 360_000_000].map(formatDuration), ['0s', '12s', '3m02s', '2h03m', '4d04h']);
  t.equal(formatDuration(null), '-');
});

t.test('the tree is drawn with ├── └── and aligned columns', async (t) => {
  const lines = renderTree(report).split('\n');
  t.equal(lines[0], 'node n1 (hydra 0.1.0, pid 100, up 1h02m, admin http://127.0.0.1:7070)');
  t.match(lines[1], /^CHILD +PID +STATE +RESTARTS +VERSION +UPTIME$/);
  t.match(lines[2], /^node \(one_for_one\) +100 +running +0 +- +1m05s$/);
  t.match(lines[3], /^├── system \(rest_for_one\) +100 /);
  t.match(lines[4], /^│   └── admin-http +100 +running/);
  t.match(lines[5], /^└── services \(one_for_one\) /);
  t.match(lines[6], /^    ├── ping#1 +201 +running +2 +1\.0\.0 +3s$/);
  t.match(lines[7], /^    └── echo#1 +- +restarting +0 +2\.1\.0 +-$/);
  const pidColumn = lines[1]!.indexOf('PID');
  t.ok(lines.slice(2).every((l) => l[pidColumn - 1] === ' ' && l[pidColumn] !== ' '), 'PID column aligned');
});

t.test('status: one line per fact', async (t) => {
  const text = renderStatus(report);
  t.match(text, /^node +n1$/m);
  t.match(text, /^state +running$/m);
  t.match(text, /^services +1 of 2 instance\(s\) running$/m);
  t.match(text, /^restarts +2$/m);
  t.match(text, /^started +2025-01-01T00:00:00\.000Z \(up 1h02m\)$/m);
});
