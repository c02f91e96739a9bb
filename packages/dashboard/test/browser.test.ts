/**
 * The dashboard end to end in a real browser (Debian's chromium, driven by playwright-core): a
 * gateway with the dashboard mounted, a greeter on a private etcd, and the page as a user sees
 * it — the greeter listed, a call from its form, a schema error, a second node arriving without
 * a reload, every request on the page's own origin, and a screenshot for the README.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { requireThat } from '@micro-ts/conformance/testing'
import { EtcdServer } from '@micro-ts/conformance/testing/etcd'
import type { MicroService } from '@micro-ts/core'
import { createGateway, type Gateway } from '@micro-ts/gateway'
import { type BrowserContext, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CONTENT_SECURITY_POLICY, type Dashboard, mountDashboard } from '../src/index.js'
import { etcdAvailable, startCaller, startGreeter } from './helpers.js'

const CHROMIUM = process.env.MICRO_TEST_CHROMIUM ?? '/usr/bin/chromium'
const up =
  etcdAvailable &&
  requireThat(
    existsSync(CHROMIUM),
    `chromium is not installed at ${CHROMIUM} (bash scripts/backends.sh chromium)`,
  )

const here = path.dirname(fileURLToPath(import.meta.url))
const output = path.join(here, '..', 'test-results')
const screenshot = path.join(output, 'dashboard.png')

let registry: EtcdServer
let caller: MicroService
const greeters: MicroService[] = []
let gateway: Gateway
let dashboard: Dashboard
let base = ''
let profile = ''
let context: BrowserContext
let page: Page
const requested: string[] = []

beforeAll(async () => {
  if (!up) return
  registry = await EtcdServer.start()
  greeters.push(await startGreeter(registry, { region: 'eu-west' }))
  caller = await startCaller(registry)
  gateway = createGateway({ registry: caller.registry, client: caller.client })
  dashboard = mountDashboard(gateway)
  base = `http://${await gateway.listen('127.0.0.1:0')}`
  profile = mkdtempSync(path.join(os.tmpdir(), 'micro-dashboard-chromium-'))
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 860 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
  page = context.pages()[0] ?? (await context.newPage())
  page.on('request', (r) => requested.push(r.url()))
})

afterAll(async () => {
  await context?.close()
  if (profile) rmSync(profile, { recursive: true, force: true })
  await dashboard?.close()
  await gateway?.close()
  for (const g of greeters) await g.stop()
  await caller?.stop()
  await registry?.stop()
})

describe.runIf(up)('the dashboard in chromium', () => {
  it('serves the page with a same-origin-only policy and lists the greeter', async () => {
    const res = await page.goto(`${base}/dashboard`)
    expect(res?.status()).toBe(200)
    expect(new URL(page.url()).pathname).toBe('/dashboard/')
    expect(res?.headers()['content-security-policy']).toBe(CONTENT_SECURITY_POLICY)
    await page.locator('#services [data-service="greeter"]').waitFor()
    await expect.poll(() => page.locator('#live').getAttribute('data-state')).toBe('live')
    expect(await page.locator('#services [data-service="greeter"] .counts').textContent()).toBe(
      '1 node · v1.0.0',
    )
  })

  it("shows the service's version, node with its metadata and health, and the endpoint's schema", async () => {
    await page.locator('#services [data-service="greeter"] a').click()
    const version = page.locator('section.version[data-version="1.0.0"]')
    await version.waitFor()
    const node = version.locator('tr[data-node-id]')
    expect(await node.count()).toBe(1)
    expect(await node.locator('.tags').textContent()).toContain('region=eu-west')
    // The greeter is on the http transport: its own /health answers, through the gateway.
    await expect.poll(() => node.locator('.health').textContent(), { timeout: 15_000 }).toBe('up')
    const hello = version.locator('details[data-endpoint="Greeter.Hello"]')
    expect(await hello.locator('summary').textContent()).toContain('Greets a person by name')
    const request = await hello.locator('.schemas > div').first().textContent()
    expect(request).toContain('HelloRequest')
    expect(request).toContain('name')
    expect(request).toContain('string')
  })

  it('calls Greeter.Hello from the form and shows the answer', async () => {
    const hello = page.locator('details[data-endpoint="Greeter.Hello"]')
    await hello.locator('summary').click()
    await hello.locator('input[data-field="name"]').fill('John')
    expect(JSON.parse(await hello.locator('textarea.json').inputValue())).toEqual({ name: 'John' })
    await hello.getByRole('button', { name: 'Call' }).click()
    const result = hello.locator('pre.result')
    await expect.poll(() => result.getAttribute('data-state')).toBe('ok')
    expect(JSON.parse((await result.textContent()) ?? '')).toEqual({ greeting: 'Hello John' })
  })

  it("shows the service's 400 when the request breaks its schema", async () => {
    const hello = page.locator('details[data-endpoint="Greeter.Hello"]')
    await hello.locator('textarea.json').fill('{"name": 42}')
    await hello.getByRole('button', { name: 'Call' }).click()
    const result = hello.locator('pre.result')
    await expect.poll(() => result.getAttribute('data-state')).toBe('error')
    const err = JSON.parse((await result.textContent()) ?? '')
    expect(err).toMatchObject({ id: 'go.micro.server', code: 400, status: 'Bad Request' })
    expect(err.detail).toMatch(/^Greeter\.Hello: invalid request: name: /)
    expect(await hello.locator('.call-meta').textContent()).toContain('400 Bad Request')
    // The fields follow the JSON.
    expect(await hello.locator('input[data-field="name"]').inputValue()).toBe('42')
    await hello.locator('textarea.json').fill('{"name": "John"}')
    expect(await hello.locator('input[data-field="name"]').inputValue()).toBe('John')
    await hello.getByRole('button', { name: 'Call' }).click()
    await expect.poll(() => result.getAttribute('data-state')).toBe('ok')
  })

  it('shows a second greeter node without a reload, and keeps the form as it was', async () => {
    // A mark on the page's global object: a reload would drop it.
    await page.evaluate(() => {
      ;(globalThis as { loadedOnce?: boolean }).loadedOnce = true
    })
    greeters.push(await startGreeter(registry, { region: 'us-east' }))
    const nodes = page.locator('section.version[data-version="1.0.0"] tr[data-node-id]')
    await expect.poll(() => nodes.count(), { timeout: 15_000 }).toBe(2)
    expect(await page.locator('#services [data-service="greeter"] .counts').textContent()).toBe(
      '2 nodes · v1.0.0',
    )
    expect(await page.evaluate(() => (globalThis as { loadedOnce?: boolean }).loadedOnce)).toBe(true)
    const hello = page.locator('details[data-endpoint="Greeter.Hello"]')
    expect(await hello.getAttribute('open')).not.toBeNull()
    expect(await hello.locator('pre.result').textContent()).toContain('Hello John')
    // The call form can now pick either node.
    const addresses = await hello.locator('select[name="address"] option').allTextContents()
    expect(addresses).toHaveLength(3)
    await expect
      .poll(() => nodes.locator('.health').allTextContents(), { timeout: 15_000 })
      .toEqual(['up', 'up'])
    mkdirSync(output, { recursive: true })
    await page.screenshot({ path: screenshot, fullPage: true })
    expect(existsSync(screenshot)).toBe(true)
    // The README shows this picture: MICRO_UPDATE_SCREENSHOT=1 refreshes it (a test run leaves the tree as it was).
    if (process.env.MICRO_UPDATE_SCREENSHOT === '1')
      copyFileSync(screenshot, path.join(here, '..', 'dashboard.png'))
  })

  it('a node that stops leaves the page, and a service that goes away leaves the list', async () => {
    const second = greeters.pop()
    await second?.stop()
    const nodes = page.locator('section.version[data-version="1.0.0"] tr[data-node-id]')
    await expect.poll(() => nodes.count(), { timeout: 15_000 }).toBe(1)
    for (const g of greeters.splice(0)) await g.stop()
    await page.locator('#services [data-service="greeter"]').waitFor({ state: 'detached', timeout: 15_000 })
    expect(await page.locator('main .notice').textContent()).toContain('Not registered')
  })

  it('every request the page made stayed on its own origin', () => {
    const origin = new URL(base).origin
    const elsewhere = requested.filter((u) => !u.startsWith('data:') && new URL(u).origin !== origin)
    expect(requested.length).toBeGreaterThan(4)
    expect(elsewhere).toEqual([])
  })
})
