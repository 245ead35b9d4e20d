import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { REPO_ROOT, requireComponent, tempDir } from '../helpers.js';
import { havePromtool, PROMTOOL, promtool, RULES, RULES_TEST } from './promtool.js';

/**
 * The shipped alert rules (contrib/prometheus) are valid, and their unit test passes and has teeth: every rule has
 * a case where it fires and a quiet one, and each of those fails when the rule is made to never fire or to always
 * fire. Every rule links to its section of the alerting guide, and every metric a rule reads is either defined in
 * src/ today or listed in the decision record as a metric the code must add.
 */

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface AlertTest {
  eval_time: string;
  alertname: string;
  exp_alerts?: unknown[] | null;
}
interface TestGroup {
  name?: string;
  alert_rule_test?: AlertTest[];
  [k: string]: unknown;
}
interface TestFile {
  rule_files: string[];
  tests: TestGroup[];
  [k: string]: unknown;
}

const readYaml = <T>(file: string): T => parseYaml(fs.readFileSync(file, 'utf8')) as T;
const rulesOf = (doc: { groups: { rules: Rule[] }[] }): Rule[] => doc.groups.flatMap((g) => g.rules);
const fires = (t: AlertTest) => (t.exp_alerts ?? []).length > 0;

/** The rules file with `alert`'s expression replaced, and a test file of only `keep`'s cases against it, in a temp dir. */
function variant(alert: string | undefined, expr: string | undefined, keep: (t: AlertTest) => boolean): { dir: string; testFile: string } {
  const dir = tempDir('arkeo-signer-rules-');
  const rules = readYaml<{ groups: { rules: Rule[] }[] }>(RULES);
  if (alert && expr) {
    const rule = rulesOf(rules).find((r) => r.alert === alert);
    assert.ok(rule, alert);
    rule.expr = expr;
  }
  fs.writeFileSync(path.join(dir, 'rules.yml'), stringifyYaml(rules));
  const tests = readYaml<TestFile>(RULES_TEST);
  tests.rule_files = ['rules.yml'];
  tests.tests = tests.tests
    .map((g) => ({ ...g, alert_rule_test: (g.alert_rule_test ?? []).filter(keep) }))
    .filter((g) => g.alert_rule_test.length > 0);
  const testFile = path.join(dir, 'rules.test.yml');
  fs.writeFileSync(testFile, stringifyYaml(tests));
  return { dir, testFile };
}

test('promtool check rules: the shipped rules are valid, every one counted', (t) => {
  if (!requireComponent(t, havePromtool, PROMTOOL)) return;
  const rules = rulesOf(readYaml(RULES));
  const r = promtool(['check', 'rules', RULES]);
  assert.equal(r.status, 0, r.output);
  assert.match(r.output, new RegExp(`SUCCESS: ${rules.length} rules found`));
  // Control: promtool does refuse a broken expression.
  const broken = variant(rules[0]!.alert, 'sum by (job (up)', () => true);
  const b = promtool(['check', 'rules', path.join(broken.dir, 'rules.yml')]);
  assert.notEqual(b.status, 0, b.output);
});

test('promtool test rules: the shipped unit test passes', (t) => {
  if (!requireComponent(t, havePromtool, PROMTOOL)) return;
  const r = promtool(['test', 'rules', RULES_TEST]);
  assert.equal(r.status, 0, r.output);
  assert.match(r.output, /SUCCESS/);
});

test('every rule has a firing case and a quiet case, and the test names no alert the rules lack', () => {
  const alerts = rulesOf(readYaml(RULES)).map((r) => r.alert);
  assert.equal(new Set(alerts).size, alerts.length, 'alert names are unique');
  const cases = readYaml<TestFile>(RULES_TEST).tests.flatMap((g) => g.alert_rule_test ?? []);
  for (const alert of alerts) {
    assert.ok(cases.some((c) => c.alertname === alert && fires(c)), `${alert}: no case where it fires`);
    assert.ok(cases.some((c) => c.alertname === alert && !fires(c)), `${alert}: no quiet case (exp_alerts: [])`);
  }
  // A quiet case of a misspelled alert would pass whatever the rules say.
  for (const c of cases) assert.ok(alerts.includes(c.alertname), `the test names ${c.alertname}, which no rule defines`);
});

test('each rule\'s cases have teeth: never firing fails its firing cases, always firing fails its quiet cases', { timeout: 300_000 }, (t) => {
  if (!requireComponent(t, havePromtool, PROMTOOL)) return;
  for (const rule of rulesOf(readYaml(RULES))) {
    const own = (want: boolean) => (c: AlertTest) => c.alertname === rule.alert && fires(c) === want;
    for (const [kind, want, expr] of [
      ['firing', true, 'vector(1) < 0'],
      ['quiet', false, 'vector(1)'],
    ] as const) {
      // Control: the same cases pass against the rules as shipped.
      const control = promtool(['test', 'rules', variant(undefined, undefined, own(want)).testFile]);
      assert.equal(control.status, 0, `${rule.alert}, ${kind} cases as shipped:\n${control.output}`);
      const mutated = promtool(['test', 'rules', variant(rule.alert, expr, own(want)).testFile]);
      assert.notEqual(mutated.status, 0, `${rule.alert}: its ${kind} cases still pass with expr: ${expr}`);
      assert.match(mutated.output, new RegExp(`alertname: ${rule.alert},`));
    }
  }
});

test('a threshold broken by one either way makes promtool test rules fail, naming the rule', (t) => {
  if (!requireComponent(t, havePromtool, PROMTOOL)) return;
  const shipped = rulesOf(readYaml(RULES)).find((r) => r.alert === 'ArkeoSignerAuthFailures')!;
  assert.match(shipped.expr, / >= 10$/);
  for (const threshold of [9, 11]) {
    const { testFile } = variant(shipped.alert, shipped.expr.replace(/ >= 10$/, ` >= ${threshold}`), () => true);
    const r = promtool(['test', 'rules', testFile]);
    assert.notEqual(r.status, 0, `threshold ${threshold}: the unit test still passes`);
    assert.match(r.output, /alertname: ArkeoSignerAuthFailures,/);
  }
});

test('every rule links to its section of the alerting guide', () => {
  const guide = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'guides', 'alerting.md'), 'utf8');
  for (const rule of rulesOf(readYaml(RULES))) {
    assert.match(guide, new RegExp(`^### ${rule.alert}$`, 'm'), `docs/guides/alerting.md has no section ### ${rule.alert}`);
    assert.equal(rule.annotations?.runbook, `docs/guides/alerting.md#${rule.alert.toLowerCase()}`, rule.alert);
    assert.ok(['critical', 'warning'].includes(rule.labels?.severity ?? ''), `${rule.alert}: severity critical or warning`);
  }
});

test('the guide\'s prometheus.yml loads the shipped rules (promtool check config)', (t) => {
  if (!requireComponent(t, havePromtool, PROMTOOL)) return;
  const guide = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'guides', 'alerting.md'), 'utf8');
  const example = [...guide.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((m) => m[1]!).find((b) => /^scrape_configs:/m.test(b));
  assert.ok(example, 'docs/guides/alerting.md: no yaml block with scrape_configs');
  // The example's files, in a temp dir: the rules as shipped, and empty stand-ins for the certificates.
  const dir = tempDir('arkeo-signer-prometheus-');
  const config = example.replaceAll('/etc/prometheus/', `${dir}/`);
  for (const f of config.matchAll(/_file: (\S+)/g)) fs.writeFileSync(f[1]!, '');
  fs.copyFileSync(RULES, path.join(dir, 'arkeo-signer.rules.yml'));
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), config);
  const r = promtool(['check', 'config', path.join(dir, 'prometheus.yml')]);
  assert.equal(r.status, 0, r.output);
  assert.match(r.output, new RegExp(`SUCCESS: ${rulesOf(readYaml(RULES)).length} rules found`));
});

test('every metric a rule reads is defined in src/ or listed as one the code must add', () => {
  const defined = new Set<string>();
  for (const entry of fs.readdirSync(path.join(REPO_ROOT, 'src'), { recursive: true }) as string[]) {
    if (!entry.endsWith('.ts')) continue;
    const text = fs.readFileSync(path.join(REPO_ROOT, 'src', entry), 'utf8');
    for (const m of text.matchAll(/name: '(arkeo_[a-z0-9_]+)'/g)) defined.add(m[1]!);
  }
  // Control: the inventory finds metrics as they are defined today.
  assert.ok(defined.has('arkeo_signer_auth_failures_total') && defined.has('arkeo_proxy_spend_ceiling'), [...defined].join(' '));
  const contract = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'decisions', 'alert-rule-metrics.md'), 'utf8');
  const listed = new Set([...contract.matchAll(/^\| `(arkeo_[a-z0-9_]+)` \|/gm)].map((m) => m[1]!));
  const used = new Set(rulesOf(readYaml(RULES)).flatMap((r) => [...r.expr.matchAll(/\barkeo_[a-z0-9_]+/g)].map((m) => m[0])));
  const missing = [...used].filter((m) => !defined.has(m) && !listed.has(m));
  assert.deepEqual(missing, [], 'metrics the rules read that neither src/ defines nor docs/decisions/alert-rule-metrics.md lists');
  // The list is of metrics the code lacks, or has gained since: none of it is unused by the rules.
  assert.deepEqual([...listed].filter((m) => !used.has(m)), [], 'listed in docs/decisions/alert-rule-metrics.md but read by no rule');
});
