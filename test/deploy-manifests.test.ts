// The Kubernetes manifests under deploy/ stay deployable and in step with
// ringside: every object validates against the Kubernetes OpenAPI schemas
// (kubernetes-models, and @kubernetes-models/prometheus-operator for the
// PodMonitor), `kubectl kustomize` builds each overlay into objects that
// validate too and carry the sidecar, the sidecar's RINGSIDE_* environment is
// accepted by the config loader itself, and the Grafana dashboard only queries
// metrics that lib/metrics/metrics.ts declares.
//
// kubectl: Debian's own kubectl (package kubernetes-client, 1.20) embeds
// kustomize 2.0.3, which predates `kind: Component` (kustomize 3.7); the test
// needs a kubectl of 1.21 or later (kustomize v4+), like the one on this
// project's machine image (`kubectl version --client`).

import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { registerRuntimeMetrics } from '../lib/metrics/runtime-metrics.ts';
import { parseAllDocuments } from 'yaml';
import { describe, expect, test } from 'vitest';
import { ENV_VARS, loadConfig } from '../lib/config/load-config.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DEPLOY = join(ROOT, 'deploy');

const ADMIN_PORT = 15090;
const SIDECAR_NAME = 'ringside';

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; [k: string]: unknown }; [k: string]: unknown };
interface Container {
  name: string;
  image: string;
  restartPolicy?: string;
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string }; prefix?: string }[];
  ports?: { name?: string; containerPort: number }[];
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number } } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown>;
}
interface Probe {
  httpGet?: { path: string; port: number | string };
}
interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    terminationGracePeriodSeconds?: number;
    securityContext?: Record<string, unknown>;
    initContainers?: Container[];
    containers: Container[];
  };
}

// ---- reading deploy/ ---------------------------------------------------------

function yamlFilesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

function parseYamlFile(text: string, label: string): unknown[] {
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  for (const doc of list) expect(doc.errors, `${label}: ${doc.errors.map((e) => e.message).join('; ')}`).toEqual([]);
  return list.map((doc) => doc.toJS() as unknown).filter((o) => o !== null);
}

const allYaml = yamlFilesUnder(DEPLOY);
const kustomizationFiles = allYaml.filter((f) => /(^|\/)kustomization\.ya?ml$/.test(f));
/** Files a kustomization names as patches: partial objects, checked through the built overlays. */
const patchFiles = new Set(
  kustomizationFiles.flatMap((file) => {
    const k = parseYamlFile(readFileSync(file, 'utf8'), file)[0] as { patches?: { path?: string }[] };
    return (k.patches ?? []).flatMap((p) => (p.path ? [join(dirname(file), p.path)] : []));
  }),
);
const manifestFiles = allYaml.filter((f) => !kustomizationFiles.includes(f) && !patchFiles.has(f));
const overlayDirs = readdirSync(join(DEPLOY, 'kustomize', 'overlays'), { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => join(DEPLOY, 'kustomize', 'overlays', e.name));

const rel = (file: string) => relative(ROOT, file);

// ---- schema validation -----------------------------------------------------------

/** The kubernetes-models module for each apiVersion the manifests use; a new one must be added here. */
const MODEL_MODULES: Record<string, () => Promise<Record<string, unknown>>> = {
  v1: () => import('kubernetes-models/v1'),
  'apps/v1': () => import('kubernetes-models/apps/v1'),
  'monitoring.coreos.com/v1': () => import('@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1'),
};

async function validateObject(object: K8sObject, where: string): Promise<void> {
  const load = MODEL_MODULES[object.apiVersion];
  expect(load, `${where}: no kubernetes-models module mapped for apiVersion ${object.apiVersion}`).toBeDefined();
  const Model = (await load())[object.kind] as (new (data: unknown) => { validate(): void }) | undefined;
  expect(Model, `${where}: kubernetes-models has no ${object.apiVersion} ${object.kind}`).toBeDefined();
  const instance = new (Model as new (data: unknown) => { validate(): void })(object);
  try {
    instance.validate();
  } catch (err) {
    throw new Error(`${where}: ${object.kind}/${object.metadata?.name} does not validate: ${(err as Error).message}`);
  }
}

/** The typed interfaces of the same models, for the unknown-field check below. */
const MODEL_TYPE_MODULES: Record<string, string> = {
  v1: 'kubernetes-models/v1',
  'apps/v1': 'kubernetes-models/apps/v1',
  'monitoring.coreos.com/v1': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
};

/**
 * The JSON schemas leave objects open, so a misspelt field (`readOnlyRootFileSystem`)
 * validates there, yet `kubectl apply` rejects it (field validation is strict by
 * default since Kubernetes 1.27). TypeScript's excess-property check on object
 * literals catches it: each object becomes `{...} satisfies IKind` in a generated
 * file that tsc checks. Returns tsc's diagnostics, mapped back to where each object came from.
 */
function findUnknownFields(objects: readonly { object: K8sObject; where: string }[]): string[] {
  const dir = join(ROOT, 'node_modules', '.cache', 'ringside-deploy-check', String(process.pid));
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'manifests.ts');
  const lines: string[] = [];
  const imports = new Map<string, Set<string>>();
  objects.forEach(({ object }, i) => {
    const module = MODEL_TYPE_MODULES[object.apiVersion];
    if (!imports.has(module)) imports.set(module, new Set());
    imports.get(module)?.add(`I${object.kind}`);
    lines.push(`export const m${i} = ${JSON.stringify(object)} satisfies I${object.kind};`);
  });
  const header = [...imports].map(([module, names]) => `import type { ${[...names].join(', ')} } from '${module}';`);
  writeFileSync(file, [...header, ...lines].join('\n') + '\n');
  try {
    execFileSync(
      process.execPath,
      [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '--ignoreConfig', '--noEmit', '--strict', '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'esnext', file],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    return [];
  } catch (err) {
    const output = String((err as { stdout?: string }).stdout ?? '') + String((err as { stderr?: string }).stderr ?? '');
    return output
      .split('\n')
      .filter((line) => line.includes('error TS'))
      .map((line) => {
        const row = Number(/\((\d+),\d+\)/.exec(line)?.[1]) - header.length - 1;
        return `${objects[row]?.where ?? '?'}: ${line.replace(/^.*error /, '')}`;
      });
  } finally {
    rmSync(dir, { recursive: true, force: true });
    // The shared parent too, unless another run is using it.
    try {
      rmdirSync(dirname(dir));
    } catch {}
  }
}

// ---- kustomize ---------------------------------------------------------------

function kustomizeBuild(dir: string): K8sObject[] {
  let output: string;
  try {
    output = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('kubectl is not installed: a kubectl of 1.21 or later is needed (kustomize components)');
    throw new Error(`kubectl kustomize ${rel(dir)} failed: ${e.stderr ?? e.message}`);
  }
  return parseYamlFile(output, `kubectl kustomize ${rel(dir)}`) as K8sObject[];
}

// ---- the sidecar -----------------------------------------------------------------

interface Workload {
  readonly where: string;
  readonly object: K8sObject;
  readonly template: PodTemplate;
  /** Every object built or applied together with it (ConfigMaps for envFrom, PodMonitors). */
  readonly siblings: readonly K8sObject[];
}

function podTemplateOf(object: K8sObject): PodTemplate | undefined {
  if (object.kind === 'Deployment' || object.kind === 'StatefulSet' || object.kind === 'DaemonSet') {
    return (object.spec as { template: PodTemplate }).template;
  }
  return undefined;
}

function sidecarOf(template: PodTemplate): { container: Container; native: boolean } | undefined {
  const init = template.spec.initContainers?.find((c) => c.name === SIDECAR_NAME);
  if (init) return { container: init, native: true };
  const regular = template.spec.containers.find((c) => c.name === SIDECAR_NAME);
  return regular ? { container: regular, native: false } : undefined;
}

/** The container's environment as the kubelet would build it: envFrom ConfigMaps first, then env. */
function resolveEnv(container: Container, siblings: readonly K8sObject[], where: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    expect(source.secretRef, `${where}: RINGSIDE_* settings belong in a ConfigMap, not a Secret`).toBeUndefined();
    const name = source.configMapRef?.name;
    const configMap = siblings.find((o) => o.kind === 'ConfigMap' && o.metadata.name === name) as { data?: Record<string, string> } | undefined;
    expect(configMap, `${where}: envFrom names ConfigMap ${name}, which is not among the objects`).toBeDefined();
    for (const [key, value] of Object.entries(configMap?.data ?? {})) env[(source.prefix ?? '') + key] = value;
  }
  for (const variable of container.env ?? []) {
    if (variable.name.startsWith('RINGSIDE_')) {
      expect(variable.valueFrom, `${where}: ${variable.name} must be a literal value so this test can check it`).toBeUndefined();
    }
    env[variable.name] = variable.value ?? '';
  }
  return env;
}

function portNumber(container: Container, port: number | string): number | undefined {
  return typeof port === 'number' ? port : container.ports?.find((p) => p.name === port)?.containerPort;
}

function preStopSeconds(container: Container): number {
  const preStop = container.lifecycle?.preStop;
  if (preStop?.sleep) return preStop.sleep.seconds;
  const command = preStop?.exec?.command ?? [];
  return command[0] === 'sleep' ? Number(command[1]) : 0;
}

/** What must be the same wherever the sidecar is declared, so the variants cannot drift apart. */
function sidecarShape(container: Container): unknown {
  const { image, ports, startupProbe, livenessProbe, readinessProbe, resources, securityContext } = container;
  return { image, ports, startupProbe, livenessProbe, readinessProbe, resources, securityContext };
}

function ringsideEnv(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter(([key]) => key.startsWith('RINGSIDE_')));
}

// ---- the objects under test --------------------------------------------------------

const fileObjects = new Map(manifestFiles.map((file) => [file, parseYamlFile(readFileSync(file, 'utf8'), rel(file)) as K8sObject[]]));
const builtOverlays = new Map(overlayDirs.map((dir) => [dir, kustomizeBuild(dir)]));

function workloads(): Workload[] {
  const list: Workload[] = [];
  const add = (objects: readonly K8sObject[], where: string, siblings: readonly K8sObject[]) => {
    for (const object of objects) {
      const template = podTemplateOf(object);
      if (template) list.push({ where: `${where} ${object.kind}/${object.metadata.name}`, object, template, siblings });
    }
  };
  // Plain manifests are applied a directory at a time, so siblings are the directory's objects.
  for (const [file] of fileObjects) {
    const dirObjects = [...fileObjects].filter(([f]) => dirname(f) === dirname(file)).flatMap(([, objects]) => objects);
    add(fileObjects.get(file) as K8sObject[], rel(file), dirObjects);
  }
  for (const [dir, objects] of builtOverlays) add(objects, `kubectl kustomize ${rel(dir)}:`, objects);
  return list;
}

const sidecarWorkloads = () => workloads().filter((w) => sidecarOf(w.template) !== undefined);

describe('deploy/ manifests', () => {
  test('every YAML file parses and every manifest validates against the Kubernetes OpenAPI schemas', async () => {
    expect(manifestFiles.map(rel)).toEqual(
      expect.arrayContaining(['deploy/example/server.yaml', 'deploy/example/client.yaml', 'deploy/example/classic/client.yaml', 'deploy/example/podmonitor.yaml']),
    );
    for (const file of allYaml) parseYamlFile(readFileSync(file, 'utf8'), rel(file));
    let validated = 0;
    for (const [file, objects] of fileObjects) {
      expect(objects.length, `${rel(file)} holds no object`).toBeGreaterThan(0);
      for (const object of objects) {
        await validateObject(object, rel(file));
        validated++;
      }
    }
    expect(validated).toBeGreaterThanOrEqual(7);
  });

  test('no object has a field the Kubernetes (or Prometheus Operator) API does not define', () => {
    const objects = [
      ...[...fileObjects].flatMap(([file, list]) => list.map((object) => ({ object, where: rel(file) }))),
      ...[...builtOverlays].flatMap(([dir, list]) => list.map((object) => ({ object, where: `kubectl kustomize ${rel(dir)}` }))),
    ];
    expect(findUnknownFields(objects)).toEqual([]);
    // And the check notices a misspelt field deep inside a pod template.
    const client = structuredClone((fileObjects.get(join(DEPLOY, 'example', 'client.yaml')) as K8sObject[])[0]);
    const sidecar = ((client.spec as { template: PodTemplate }).template.spec.initContainers as Container[])[0];
    sidecar.securityContext = { ...sidecar.securityContext, readOnlyRootFileSystem: true };
    const problems = findUnknownFields([{ object: client, where: 'mutated client' }]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^mutated client: .*readOnlyRootFileSystem.*does not exist in type 'ISecurityContext'/);
  }, 60_000);

  test('the validation rejects a malformed object (so the check above has teeth)', async () => {
    const client = (fileObjects.get(join(DEPLOY, 'example', 'client.yaml')) as K8sObject[])[0];
    const broken = structuredClone(client) as K8sObject;
    ((broken.spec as { template: PodTemplate }).template.spec.initContainers as Container[])[0].ports = [{ name: 'ringside-admin', containerPort: 'admin' as unknown as number }];
    await expect(validateObject(broken, 'mutated client')).rejects.toThrow(/containerPort must be integer/);
    const podMonitor = (fileObjects.get(join(DEPLOY, 'example', 'podmonitor.yaml')) as K8sObject[])[0];
    await expect(validateObject({ ...podMonitor, spec: { podMetricsEndpoints: 'all' } } as K8sObject, 'mutated PodMonitor')).rejects.toThrow();
  });

  test('the server is reached through a headless Service', () => {
    const [service] = fileObjects.get(join(DEPLOY, 'example', 'server.yaml')) as K8sObject[];
    expect(service.kind).toBe('Service');
    expect((service.spec as { clusterIP: string }).clusterIP).toBe('None');
    // The copy in the kustomize base is the same file, byte for byte.
    expect(readFileSync(join(DEPLOY, 'kustomize', 'base', 'server.yaml'), 'utf8')).toBe(readFileSync(join(DEPLOY, 'example', 'server.yaml'), 'utf8'));
    expect(readFileSync(join(DEPLOY, 'kustomize', 'components', 'ringside-podmonitor', 'podmonitor.yaml'), 'utf8')).toBe(
      readFileSync(join(DEPLOY, 'example', 'podmonitor.yaml'), 'utf8'),
    );
  });

  test('the example client runs ringside as a native sidecar, the classic variant as a second container', () => {
    const native = sidecarOf(podTemplateOf((fileObjects.get(join(DEPLOY, 'example', 'client.yaml')) as K8sObject[])[0]) as PodTemplate);
    expect(native?.native).toBe(true);
    expect(native?.container.restartPolicy).toBe('Always');
    const classicTemplate = podTemplateOf((fileObjects.get(join(DEPLOY, 'example', 'classic', 'client.yaml')) as K8sObject[])[0]) as PodTemplate;
    const classic = sidecarOf(classicTemplate);
    expect(classic?.native).toBe(false);
    expect(classicTemplate.spec.initContainers ?? []).toEqual([]);
    // Listed first, so its postStart hook holds the application until ringside answers.
    expect(classicTemplate.spec.containers[0].name).toBe(SIDECAR_NAME);
    expect(preStopSeconds(classic?.container as Container)).toBeGreaterThan(0);
  });
});

describe('kustomize', () => {
  test('kubectl kustomize builds every overlay, and the output validates', async () => {
    expect(overlayDirs.map(rel)).toContain('deploy/kustomize/overlays/example');
    for (const [dir, objects] of builtOverlays) {
      expect(objects.length).toBeGreaterThan(0);
      for (const object of objects) await validateObject(object, `kubectl kustomize ${rel(dir)}`);
    }
  });

  test('the ringside component injects the native sidecar into the annotated Deployment only', () => {
    const objects = builtOverlays.get(join(DEPLOY, 'kustomize', 'overlays', 'example')) as K8sObject[];
    const client = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'recs-client') as K8sObject;
    const server = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'recs') as K8sObject;
    const injected = sidecarOf(podTemplateOf(client) as PodTemplate);
    expect(injected?.native).toBe(true);
    expect(injected?.container.restartPolicy).toBe('Always');
    // The application container is untouched.
    expect((podTemplateOf(client) as PodTemplate).spec.containers.map((c) => c.name)).toEqual(['app']);
    expect(sidecarOf(podTemplateOf(server) as PodTemplate)).toBeUndefined();
    // The generated ConfigMap's hashed name was written into envFrom.
    const configMapName = injected?.container.envFrom?.[0].configMapRef?.name;
    expect(configMapName).toMatch(/^ringside-[a-z0-9]+$/);
    expect(objects.some((o) => o.kind === 'PodMonitor')).toBe(true);
  });

  test('the component, the example and the classic variant declare the same sidecar', () => {
    const shapes = sidecarWorkloads().map((w) => ({ where: w.where, shape: sidecarShape((sidecarOf(w.template) as { container: Container }).container) }));
    expect(shapes.length).toBeGreaterThanOrEqual(3);
    for (const { where, shape } of shapes) expect(shape, where).toEqual(shapes[0].shape);
    // And the example overlay configures the upstream exactly as the plain example does.
    const envs = sidecarWorkloads()
      .filter((w) => /recs-client$/.test(w.where))
      .map((w) => ringsideEnv(resolveEnv((sidecarOf(w.template) as { container: Container }).container, w.siblings, w.where)));
    expect(envs.length).toBe(2);
    expect(envs[1]).toEqual(envs[0]);
  });
});

describe('the sidecar in every workload', () => {
  test('its RINGSIDE_* variables are ones ringside reads, and the config loader accepts their values', () => {
    const checked = sidecarWorkloads();
    expect(checked.length).toBeGreaterThanOrEqual(3);
    for (const w of checked) {
      const env = ringsideEnv(resolveEnv((sidecarOf(w.template) as { container: Container }).container, w.siblings, w.where));
      for (const key of Object.keys(env)) expect(ENV_VARS, `${w.where}: ${key}`).toContain(key);
      // argv [] and the manifest's environment: what the container's ENTRYPOINT will see.
      const result = loadConfig({ argv: [], env, readFile: () => '' }, '0.0.0');
      expect(result.kind, w.where).toBe('config');
      if (result.kind !== 'config') continue;
      expect(result.config.admin.port, w.where).toBe(ADMIN_PORT);
      expect(result.config.listeners[0].listen, w.where).toEqual({ host: '127.0.0.1', port: 15001 });
      const upstream = result.config.upstreams[0];
      // A fully qualified name: Node's resolver does not apply the pod's search domains.
      if (upstream.target.kind === 'dns' || upstream.target.kind === 'srv') expect(upstream.target.name, w.where).toMatch(/\.svc\.cluster\.local\.$/);
    }
  });

  test('a value the loader rejects would be caught', () => {
    expect(() => loadConfig({ argv: [], env: { RINGSIDE_UPSTREAM: 'dns:recs:8080', RINGSIDE_LB: 'ring-hash' }, readFile: () => '' }, '0.0.0')).toThrow(/RINGSIDE_LB/);
    expect(ENV_VARS).not.toContain('RINGSIDE_HASH_HEADERS');
  });

  test('probes: liveness /healthz and readiness /readyz on the admin port', () => {
    for (const w of sidecarWorkloads()) {
      const { container } = sidecarOf(w.template) as { container: Container };
      for (const [probe, path] of [[container.livenessProbe, '/healthz'], [container.readinessProbe, '/readyz'], [container.startupProbe, '/healthz']] as const) {
        expect(probe?.httpGet?.path, w.where).toBe(path);
        expect(portNumber(container, probe?.httpGet?.port as number | string), w.where).toBe(ADMIN_PORT);
      }
    }
  });

  test("the grace period outlasts the preStop delay plus ringside's drain timeout", () => {
    for (const w of sidecarWorkloads()) {
      const { container } = sidecarOf(w.template) as { container: Container };
      // The drain timeout as ringside will read it from this environment (RINGSIDE_DRAIN_TIMEOUT, 20 s by default).
      const result = loadConfig({ argv: [], env: ringsideEnv(resolveEnv(container, w.siblings, w.where)), readFile: () => '' }, '0.0.0');
      if (result.kind !== 'config') throw new Error(`${w.where}: no config`);
      const drainSeconds = result.config.drainTimeoutMs / 1000;
      expect(drainSeconds, w.where).toBeGreaterThan(0);
      // Kubernetes' default grace period is 30 s when unset.
      const grace = w.template.spec.terminationGracePeriodSeconds ?? 30;
      expect(grace, w.where).toBeGreaterThan(preStopSeconds(container) + drainSeconds);
    }
  });

  test('security context: non-root 65532, read-only root filesystem, no privilege escalation, no capabilities, RuntimeDefault seccomp', () => {
    for (const w of sidecarWorkloads()) {
      const { container } = sidecarOf(w.template) as { container: Container };
      expect(container.securityContext, w.where).toMatchObject({
        runAsNonRoot: true,
        runAsUser: 65532,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      });
    }
  });

  test('resources: requests and a memory limit, sized from the measurements in deploy/README.md', () => {
    const mebibytes = (q: string) => Number(/^(\d+)Mi$/.exec(q)?.[1]);
    const millicores = (q: string) => (q.endsWith('m') ? Number(q.slice(0, -1)) : Number(q) * 1000);
    for (const w of sidecarWorkloads()) {
      const { container } = sidecarOf(w.template) as { container: Container };
      const { requests = {}, limits = {} } = container.resources ?? {};
      expect(millicores(requests.cpu), w.where).toBeGreaterThanOrEqual(50);
      expect(mebibytes(requests.memory), w.where).toBeLessThanOrEqual(mebibytes(limits.memory));
      // The V8 heap caps in NODE_OPTIONS must fit the limit, with room for code and buffers.
      const env = resolveEnv(container, w.siblings, w.where);
      const oldSpace = Number(/--max-old-space-size=(\d+)/.exec(env.NODE_OPTIONS ?? '')?.[1]);
      expect(oldSpace, w.where).toBeGreaterThan(0);
      expect(oldSpace + 128, w.where).toBeLessThanOrEqual(mebibytes(limits.memory));
    }
  });

  test('Prometheus: scrape annotations on the pod, and a PodMonitor that selects it on the admin port', () => {
    for (const w of sidecarWorkloads()) {
      const { container } = sidecarOf(w.template) as { container: Container };
      const annotations = w.template.metadata?.annotations ?? {};
      expect(annotations, w.where).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(ADMIN_PORT), 'prometheus.io/path': '/metrics' });
      const podMonitors = [...fileObjects.values(), ...builtOverlays.values()].flat().filter((o) => o.kind === 'PodMonitor');
      const labels = w.template.metadata?.labels ?? {};
      const selecting = podMonitors.filter((pm) => {
        const spec = pm.spec as { selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: { port: string; path: string }[] };
        return Object.entries(spec.selector.matchLabels).every(([k, v]) => labels[k] === v) && spec.podMetricsEndpoints.every((e) => portNumber(container, e.port) === ADMIN_PORT && e.path === '/metrics');
      });
      expect(selecting.length, `${w.where}: no PodMonitor selects it on the admin port`).toBeGreaterThan(0);
    }
  });
});

describe('Grafana dashboard', () => {
  const dashboard = JSON.parse(readFileSync(join(DEPLOY, 'grafana', 'ringside.json'), 'utf8')) as {
    panels: { id: number; type: string; title: string; targets?: { expr: string }[] }[];
    templating: { list: { definition?: string }[] };
  };
  const metricsSource = readFileSync(join(ROOT, 'lib', 'metrics', 'metrics.ts'), 'utf8');
  const declared = new Set([...metricsSource.matchAll(/(?:name: |ringGauge\()'(ringside_[a-z0-9_]+)'/g)].map((m) => m[1]));
  const histograms = new Set([...metricsSource.matchAll(/name: '(ringside_[a-z0-9_]+)',\s*help: '[^']*',\s*type: 'histogram'/g)].map((m) => m[1]));
  const expressions = [...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)), ...dashboard.templating.list.flatMap((v) => (v.definition ? [v.definition] : []))];
  const used = new Set(expressions.flatMap((e) => [...e.matchAll(/\bringside_[a-z0-9_]+/g)].map((m) => m[0])));
  /** The process and Node.js runtime metrics that the admin port also serves (lib/metrics/runtime-metrics.ts). */
  const runtimeRegistry = new Registry();
  registerRuntimeMetrics(runtimeRegistry).stop();
  const runtimeMetrics = new Set(runtimeRegistry.getMetricsAsArray().map((m) => m.name));
  const usedRuntime = new Set(expressions.flatMap((e) => [...e.matchAll(/\b(?:process|nodejs)_[a-z0-9_]+/g)].map((m) => m[0])));
  /** A histogram is queried through its _bucket, _sum and _count series. */
  const baseName = (name: string) => {
    const base = name.replace(/_(bucket|sum|count)$/, '');
    return histograms.has(base) ? base : name;
  };

  test('parses, and every metric its queries use is declared in lib/metrics/metrics.ts', () => {
    expect(declared.size).toBeGreaterThanOrEqual(15);
    expect(histograms).toContain('ringside_request_duration_seconds');
    expect(used.size).toBeGreaterThanOrEqual(10);
    for (const name of used) expect(declared, `${name} is not a ringside metric`).toContain(baseName(name));
    expect(runtimeMetrics).toContain('process_resident_memory_bytes');
    for (const name of usedRuntime) expect(runtimeMetrics, `${name} is not a runtime metric`).toContain(name);
    expect(metricsSource).toMatch(/registerRuntimeMetrics\(/);
  });

  test('covers requests and errors per endpoint, latency percentiles, endpoints by state, DNS health and ring balance', () => {
    const all = expressions.join('\n');
    expect(all).toMatch(/sum by \(endpoint\) \(rate\(ringside_requests_total/);
    expect(all).toMatch(/ringside_requests_total\{[^}]*code=~"5xx\|/);
    expect(all).toMatch(/ringside_proxy_errors_total/);
    expect(all).toMatch(/histogram_quantile\(0\.99, sum by \((endpoint, )?le\) \(rate\(ringside_request_duration_seconds_bucket/);
    expect(all).toMatch(/by \(upstream, state\) \(ringside_endpoints/);
    expect(all).toMatch(/ringside_dns_resolutions_total/);
    expect(all).toMatch(/time\(\) - ringside_dns_last_success_timestamp_seconds/);
    expect(all).toMatch(/ringside_ring_min_entries_per_endpoint/);
    expect(all).toMatch(/ringside_ring_max_entries_per_endpoint/);
  });

  test('panel ids are unique and every query names its data source through the variable', () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
      expect((panel as unknown as { datasource: { uid: string } }).datasource.uid, panel.title).toBe('${datasource}');
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
    }
  });

  test('grouping labels are labels ringside exports (or that scraping adds)', () => {
    const labels = new Set(['listener', 'upstream', 'endpoint', 'protocol', 'code', 'reason', 'state', 'result', 'change', 'le', 'namespace', 'pod', 'container']);
    for (const expr of expressions) {
      for (const match of expr.matchAll(/\bby \(([^)]*)\)/g)) {
        for (const label of match[1].split(',').map((l) => l.trim())) expect(labels, `${label} in ${expr}`).toContain(label);
      }
    }
  });
});
