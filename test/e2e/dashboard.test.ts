// The dashboard, end to end: the whole bot on the sandbox with its HTTP listener, the page open in
// headless Chromium before anything breaks; a bad commit (its subject carrying markup) is pushed and
// the incident appears and moves to Converged on the page without a reload, with its timeline,
// culprit, revert and evidence. Saves a screenshot (REWIND_DASHBOARD_SCREENSHOT=docs/dashboard.png
// writes the README's too).
import { copyFile, mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { appRef } from '../../src/domain/app-ref.ts';
import { parseCommitSha } from '../../src/domain/commit-sha.ts';
import { incidentIdFor } from '../../src/domain/incident.ts';
import { podinfoDeployment } from '../../src/sandbox/scenario.ts';
import { type Browser, launchChromium } from '../helpers/chromium.ts';
import { type Loop, startLoop } from '../helpers/loop.ts';
import { until } from '../helpers/wait.ts';

const BROKEN = 'ghcr.io/stefanprodan/podinfo:6.6.0-broken';
/** The sum of the waits below; a run took 9 to 11 s here (2 cores, other tests beside it). */
const TEST_TIMEOUT_MS = 180_000;
const SUBJECT = 'Bump podinfo to 6.6.0-broken <img src=x onerror="window.__pwned=1">';

describe('the dashboard, end to end', () => {
  let loop: Loop | undefined;
  let browser: Browser | undefined;
  afterEach(async () => {
    await browser?.close();
    await loop?.stop();
    browser = undefined;
    loop = undefined;
  });

  it(
    'shows a new incident live and follows it to Converged, with timeline, culprit and evidence',
    async () => {
      loop = await startLoop({ http: true, dashboard: { pollMs: 200 } });
      browser = await launchChromium();
      const page = await browser.context.newPage();
      await page.setViewportSize({ width: 1280, height: 860 });
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      await page.goto(`${loop.httpUrl!}/dashboard/`);
      await page.locator('#live.on').waitFor({ timeout: 30_000 });
      expect(await page.locator('#empty').isVisible()).toBe(true);
      // Set once; a reload would lose it.
      await page.evaluate(() => ((globalThis as { __sameDocument?: boolean }).__sameDocument = true));

      const bad = await loop.fleet.commit(SUBJECT, {
        'apps/base/podinfo/deployment.yaml': podinfoDeployment(BROKEN, 2),
      });
      loop.fleet.notifyPush();

      const id = incidentIdFor(appRef('flux-kustomization', 'flux-system', 'podinfo'), parseCommitSha(bad));
      const row = page.locator(`#incidents tbody tr[data-id="${id}"]`);
      await row.waitFor({ timeout: 60_000 });
      const seen = new Set<string>();
      const badge = row.locator('td').first();
      await until(
        async () => {
          const condition = (await badge.textContent()) ?? '';
          seen.add(condition);
          return condition === 'Converged';
        },
        'the incident to show Converged on the page',
        90_000,
        100,
      );
      // The page followed the incident through its stages, not only its end.
      expect([...seen].filter((c) => c !== 'Converged').length).toBeGreaterThan(0);
      expect(await row.locator('td').nth(1).textContent()).toBe('flux-system/podinfo');
      expect(await row.locator('td').nth(2).textContent()).toBe('flux-kustomization');
      expect(await row.locator('.subject').textContent()).toBe(SUBJECT);

      await row.click();
      const detail = page.locator('#detail');
      await detail.locator('ol.timeline li').last().waitFor({ timeout: 10_000 });
      const timeline = await detail
        .locator('ol.timeline li')
        .evaluateAll((items) => items.map((li) => li.getAttribute('data-condition')));
      expect(timeline).toEqual([
        'Detected',
        'Located',
        'RevertPrepared',
        'Merged',
        'ReconcileRequested',
        'Converged',
      ]);
      const record = await loop.finalIncident(bad);
      expect(record.id).toBe(id);
      expect(await detail.locator('.incident-id').textContent()).toBe(id);
      const facts = (await detail.locator('dl.facts').textContent()) ?? '';
      expect(facts).toContain(bad.slice(0, 12));
      expect(facts).toContain(SUBJECT);
      expect(facts).toContain(record.details.revert!.sha!.slice(0, 12));
      expect(facts).toContain('apps/base/podinfo/deployment.yaml');
      expect(await detail.locator('ul.verification').textContent()).toContain('default/podinfo');
      expect(await detail.locator('table.timings').textContent()).toContain('total');

      expect(await page.locator('img').count()).toBe(0);
      const flags = await page.evaluate(() => {
        const g = globalThis as { __sameDocument?: boolean; __pwned?: number };
        return { __sameDocument: g.__sameDocument, __pwned: g.__pwned };
      });
      expect(flags.__sameDocument).toBe(true);
      expect(flags.__pwned).toBeUndefined();
      expect(errors).toEqual([]);

      const dir = await mkdtemp(path.join(tmpdir(), 'rewind-dashboard-'));
      const shot = path.join(dir, 'dashboard.png');
      await page.screenshot({ path: shot, fullPage: true });
      expect((await stat(shot)).size).toBeGreaterThan(10_000);
      console.info(`[dashboard] screenshot: ${shot}`);
      const readmeShot = process.env['REWIND_DASHBOARD_SCREENSHOT'];
      if (readmeShot) await copyFile(shot, readmeShot);
    },
    TEST_TIMEOUT_MS,
  );
});
