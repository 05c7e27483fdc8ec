// The admin dashboard in a real browser (Debian's Chromium, driven by playwright-core): it renders
// the serving config and the accounting state, and its live tables show the same token numbers the
// ledger holds, updating without a reload as traffic flows.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLedger } from '../../src/accounting/ledger/reader.js';
import { startSimServer, type SimServerHandle } from '../../src/sim/index.js';
import { backendYaml, routeYaml } from '../helpers/gateway.js';
import { CHAT, postJson, startObsGateway, type ObsGateway } from './helpers.js';

let sim: SimServerHandle;
let gw: ObsGateway;
let browser: Browser;
let ledgerDir: string;

beforeAll(async () => {
  sim = await startSimServer({ profile: 'fast', model: 'gpt-4o-mini', seed: 9 });
  ledgerDir = await mkdtemp(join(tmpdir(), 'tollgate-dash-'));
  gw = await startObsGateway(
    {
      'b.yaml': backendYaml('sim', [{ port: sim.port }]),
      'r.yaml': routeYaml('r', [{ matches: [{ 'x-workload-app': 'research-bot' }], backends: [{ name: 'sim' }] }]),
    },
    { ledgerDir },
  );
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await gw?.close();
  await sim?.close();
  await rm(ledgerDir, { recursive: true, force: true });
});

async function traffic(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await postJson(gw.url + CHAT, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `dashboard request ${i}` }], max_tokens: 6 }, { 'x-workload-app': 'research-bot' });
    expect(r.status).toBe(200);
  }
  await gw.settled();
}

describe('admin dashboard', () => {
  it('shows live token totals that match the ledger, and updates as traffic flows', async () => {
    await traffic(3);
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(gw.adminUrl + '/');
    await page.waitForSelector('body[data-ready="true"]', { timeout: 15_000 });
    expect(await page.textContent('h1')).toBe('Tollgate');
    // Server-rendered: routes and where usage goes.
    expect(await page.textContent('body')).toContain('x-workload-app = research-bot');
    expect(await page.textContent('body')).toContain(ledgerDir);

    const ledgerTotals = async (): Promise<{ input: number; output: number; requests: number }> => {
      const t = { input: 0, output: 0, requests: 0 };
      for await (const r of readLedger(ledgerDir)) {
        t.input += r.usage.input;
        t.output += r.usage.output;
        t.requests++;
      }
      return t;
    };
    const row = async (): Promise<string[]> => page.$$eval('#tokens-by-model tr:first-child td', (tds) => tds.map((td) => td.textContent ?? ''));
    let want = await ledgerTotals();
    let cells = await row();
    expect(cells[0]).toBe('gpt-4o-mini');
    expect(cells[1]).toBe(String(want.requests));
    expect(cells[2]).toBe(want.input.toLocaleString('en-US'));
    expect(cells[4]).toBe(want.output.toLocaleString('en-US'));
    const workload = await page.$$eval('#tokens-by-workload tr:first-child td', (tds) => tds.map((td) => td.textContent ?? ''));
    expect(workload[0]).toBe('research-bot');
    expect(await page.textContent('#stat-requests')).toBe('3');
    expect(await page.textContent('#drift')).toContain('gpt-4o-mini');
    expect(await page.textContent('#pools')).toContain('default/sim');

    // More traffic: the page follows without a reload.
    await traffic(4);
    want = await ledgerTotals();
    await page.waitForFunction(`document.querySelector('#stat-requests')?.textContent === '7'`, undefined, { timeout: 15_000 });
    cells = await row();
    expect(cells[1]).toBe('7');
    expect(cells[2]).toBe(want.input.toLocaleString('en-US'));
    expect(Number(String(await page.textContent('#stat-tokens')).replace(/,/g, ''))).toBe(want.input + want.output);
    await page.screenshot({ path: process.env['TOLLGATE_DASHBOARD_SCREENSHOT'] ?? join(ledgerDir, 'dashboard.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);
});
