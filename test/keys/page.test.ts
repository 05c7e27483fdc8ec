// The dashboard's keys page in Chromium: after the admin token is typed in, every key shows with
// its spend against its budget, read from a real gateway process.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventually } from '../helpers/gateway.js';
import { openAIBehavior, startUpstream, type Upstream } from '../helpers/upstream.js';
import { chatWith, createKey, REQUEST_COST, serve, TOKEN, waitSpent, workspace, type Served } from './helpers.js';

let up: Upstream;
let dir: string;
let gw: Served;
let browser: Browser;

beforeAll(async () => {
  up = await startUpstream(openAIBehavior({ chunks: 5 }));
  dir = await workspace([up.port]);
  gw = await serve(dir, ['--state-dir', join(dir, 'state'), '--concurrency', '1']);
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await gw?.stop();
  await up?.close();
  await rm(dir, { recursive: true, force: true });
});

it('shows each key with its spend against its budget once the admin token is given', async () => {
  const { id, key } = await createKey(gw.admin, { name: 'page-agent', workload: 'ci', team: 'web', models: ['m'], budgets: [{ amount: 4 * REQUEST_COST, period: 'month' }] });
  await eventually(async () => (await chatWith(gw.url, key, { model: 'nope' })).status !== 401, 'the key to be known');
  for (let i = 0; i < 4; i++) expect((await chatWith(gw.url, key)).status).toBe(200);
  await waitSpent(gw.admin, id, 4 * REQUEST_COST);
  const page = await browser.newPage();
  try {
    await page.goto(`${gw.admin}/admin/ui`);
    expect(await page.locator('#keys').isHidden()).toBe(true);
    await page.fill('#token', 'not-the-token-at-all');
    await page.click('button');
    await page.waitForFunction(`(document.getElementById('status')?.textContent ?? '') !== ''`);
    expect(await page.textContent('#status')).toContain('not valid');
    await page.fill('#token', TOKEN);
    await page.click('button');
    const row = page.locator(`tr[data-id="${id}"]`);
    await row.waitFor();
    const text = (await row.textContent()) ?? '';
    expect(text).toContain('page-agent');
    expect(text).toContain('web');
    expect(text).toContain('over_budget');
    expect(text).toContain(`0.2000 of ${4 * REQUEST_COST} USD / month`);
    expect(await row.locator('.bar i.over').count()).toBe(1);
  } finally {
    await page.close();
  }
}, 60_000);
