// The dashboard page: hand-written, no framework and no build step. Everything it shows comes
// from the routes beside it (api/services, api/events, api/health, api/call) on its own origin;
// every text from the registry or a service goes into the page as text, never as HTML.

const state = {
  /** name -> { name, versions: [{ version, metadata, nodes, endpoints }] } */
  services: new Map(),
  /** node id -> { status, checks, error } */
  health: new Map(),
  registry: '',
  error: '',
  filter: '',
  selected: '',
}

const $ = (id) => document.getElementById(id)

/** el('div', { class: 'x', dataset: { a: 1 } }, child, 'text', ...) */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue
    if (k === 'dataset') Object.assign(node.dataset, v)
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v)
    else if (k === 'text') node.textContent = v
    else node.setAttribute(k, v === true ? '' : String(v))
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue
    node.append(c instanceof Node ? c : document.createTextNode(String(c)))
  }
  return node
}

function nodeCount(svc) {
  return svc.versions.reduce((n, v) => n + v.nodes.length, 0)
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

// ---- live data ---------------------------------------------------------------------------

function applySnapshot(snap) {
  state.registry = snap.registry || ''
  state.error = snap.error || ''
  state.services = new Map(snap.services.map((s) => [s.name, s]))
  render()
}

function applyService(svc) {
  if (svc.versions.length) state.services.set(svc.name, svc)
  else state.services.delete(svc.name)
  render()
  if (svc.name === state.selected) refreshHealth()
}

function setLive(s, text) {
  const live = $('live')
  live.dataset.state = s
  live.textContent = text
}

function connect() {
  if (!('EventSource' in window)) {
    poll()
    return
  }
  const events = new EventSource('api/events')
  events.addEventListener('open', () => setLive('live', 'live'))
  events.addEventListener('snapshot', (e) => {
    setLive('live', 'live')
    applySnapshot(JSON.parse(e.data))
  })
  events.addEventListener('service', (e) => applyService(JSON.parse(e.data)))
  events.addEventListener('error', () => {
    // EventSource reconnects by itself (the server asked for 2 s); the snapshot then resyncs.
    setLive(events.readyState === EventSource.CLOSED ? 'down' : 'reconnecting', 'reconnecting')
    if (events.readyState === EventSource.CLOSED) setTimeout(connect, 5000)
  })
}

async function poll() {
  try {
    const res = await fetch('api/services', { headers: { Accept: 'application/json' } })
    applySnapshot(await res.json())
    setLive('live', 'polling')
  } catch {
    setLive('down', 'offline')
  }
  setTimeout(poll, 5000)
}

let healthTimer = 0
async function refreshHealth() {
  clearTimeout(healthTimer)
  const name = state.selected
  if (!name || !state.services.has(name)) return
  try {
    const res = await fetch(`api/health/${encodeURIComponent(name)}`, {
      headers: { Accept: 'application/json' },
    })
    if (res.ok) {
      const report = await res.json()
      for (const n of report.nodes) state.health.set(n.id, n)
      renderHealth()
    }
  } catch {
    // the next round tries again
  }
  if (state.selected === name) healthTimer = setTimeout(refreshHealth, 10_000)
}

// ---- sidebar -------------------------------------------------------------------------------

function renderSidebar() {
  const list = $('services')
  const names = [...state.services.keys()].sort()
  const filter = state.filter.toLowerCase()
  const shown = names.filter((n) => n.toLowerCase().includes(filter))
  list.replaceChildren(
    ...shown.map((name) => {
      const svc = state.services.get(name)
      const nodes = nodeCount(svc)
      return el(
        'li',
        { dataset: { service: name } },
        el(
          'a',
          {
            href: `#/${encodeURIComponent(name)}`,
            class: name === state.selected ? 'service selected' : 'service',
            'aria-current': name === state.selected ? 'page' : undefined,
          },
          el('span', { class: 'name', text: name }),
          el('span', {
            class: 'counts',
            text: `${plural(nodes, 'node')} · v${svc.versions.map((v) => v.version || '?').join(', v')}`,
          }),
        ),
      )
    }),
  )
  $('empty').hidden = names.length > 0
  $('empty').textContent = state.error ? `Registry: ${state.error}` : 'No services registered.'
  $('registry').textContent = state.registry ? `registry: ${state.registry}` : ''
}

// ---- main view -----------------------------------------------------------------------------

/** Replace `parent`'s child for `key` only when its data changed, so forms keep what was typed. */
function region(parent, key, signature, build) {
  const node = parent.querySelector(`:scope > [data-region="${CSS.escape(key)}"]`)
  if (node && node.dataset.sig === signature) return node
  const fresh = build()
  fresh.dataset.region = key
  fresh.dataset.sig = signature
  if (node) node.replaceWith(fresh)
  else parent.append(fresh)
  return fresh
}

function render() {
  renderSidebar()
  const main = $('main')
  const svc = state.selected ? state.services.get(state.selected) : undefined
  if (!state.selected) {
    region(main, 'view', `overview:${JSON.stringify([...state.services.values()].map(summary))}`, overview)
  } else if (!svc) {
    region(main, 'view', `gone:${state.selected}`, () =>
      el(
        'section',
        {},
        el('h2', { text: state.selected }),
        el('p', {
          class: 'notice',
          text: 'Not registered (any more). It appears here again when it registers.',
        }),
      ),
    )
  } else {
    const view = region(main, 'view', `service:${svc.name}`, () =>
      el('section', { class: 'service-view', dataset: { service: svc.name } }, el('h2', { text: svc.name })),
    )
    const seen = new Set()
    for (const v of svc.versions) {
      const key = `version:${v.version}`
      seen.add(key)
      const section = region(view, key, key, () =>
        el(
          'section',
          { class: 'version', dataset: { version: v.version } },
          el('h3', {}, 'version ', el('code', { text: v.version || '(none)' })),
        ),
      )
      region(section, 'metadata', JSON.stringify(v.metadata), () => metadataBlock(v.metadata))
      region(section, 'nodes', JSON.stringify(v.nodes), () => nodesBlock(v.nodes))
      region(section, 'endpoints', JSON.stringify(v.endpoints), () => endpointsBlock(svc.name, v))
      syncNodeChoices(section, v.nodes)
    }
    for (const child of [...view.querySelectorAll(':scope > [data-region]')]) {
      if (!seen.has(child.dataset.region)) child.remove()
    }
    renderHealth()
  }
}

/** The call forms' node choices follow the nodes without rebuilding the forms. */
function syncNodeChoices(section, nodes) {
  for (const select of section.querySelectorAll('select[name="address"]')) {
    const have = [...select.options].slice(1).map((o) => o.value)
    const want = nodes.map((n) => n.address)
    if (have.join('\n') === want.join('\n')) continue
    const chosen = select.value
    select.replaceChildren(
      el('option', { value: '', text: 'any node' }),
      ...want.map((a) => el('option', { value: a, text: a })),
    )
    select.value = want.includes(chosen) ? chosen : ''
  }
}

function summary(svc) {
  return {
    name: svc.name,
    versions: svc.versions.map((v) => v.version),
    nodes: nodeCount(svc),
    endpoints: svc.versions[0]?.endpoints.length ?? 0,
  }
}

function overview() {
  const rows = [...state.services.values()].map(summary).sort((a, b) => (a.name < b.name ? -1 : 1))
  if (!rows.length) {
    return el(
      'section',
      {},
      el('h2', { text: 'Services' }),
      el('p', {
        class: 'muted',
        text: state.error
          ? `The registry could not be read: ${state.error}`
          : 'No services registered yet. They appear here as they register.',
      }),
    )
  }
  return el(
    'section',
    {},
    el('h2', { text: 'Services' }),
    el(
      'table',
      { class: 'grid' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          el('th', { text: 'service' }),
          el('th', { text: 'versions' }),
          el('th', { text: 'nodes' }),
          el('th', { text: 'endpoints' }),
        ),
      ),
      el(
        'tbody',
        {},
        rows.map((r) =>
          el(
            'tr',
            { dataset: { service: r.name } },
            el('td', {}, el('a', { href: `#/${encodeURIComponent(r.name)}`, text: r.name })),
            el('td', { text: r.versions.join(', ') }),
            el('td', { class: 'num', text: r.nodes }),
            el('td', { class: 'num', text: r.endpoints }),
          ),
        ),
      ),
    ),
  )
}

function metadataBlock(metadata) {
  const entries = Object.entries(metadata || {})
  if (!entries.length) return el('div', {})
  return el(
    'dl',
    { class: 'metadata' },
    entries.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]),
  )
}

function nodesBlock(nodes) {
  return el(
    'div',
    {},
    el('h4', { text: `Nodes (${nodes.length})` }),
    el(
      'table',
      { class: 'grid nodes' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          el('th', { text: 'health' }),
          el('th', { text: 'id' }),
          el('th', { text: 'address' }),
          el('th', { text: 'metadata' }),
        ),
      ),
      el(
        'tbody',
        {},
        nodes.map((n) =>
          el(
            'tr',
            { dataset: { nodeId: n.id } },
            el('td', {}, el('span', { class: 'health', dataset: { health: 'unknown' }, text: '…' })),
            el('td', {}, el('code', { text: n.id })),
            el('td', {}, el('code', { text: n.address })),
            el(
              'td',
              { class: 'tags' },
              Object.entries(n.metadata || {})
                .filter(([, v]) => v !== '')
                .map(([k, v]) => el('span', { class: 'tag', text: `${k}=${v}` })),
            ),
          ),
        ),
      ),
    ),
  )
}

function renderHealth() {
  for (const row of document.querySelectorAll('tr[data-node-id]')) {
    const h = state.health.get(row.dataset.nodeId)
    const badge = row.querySelector('.health')
    if (!h || !badge) continue
    badge.dataset.health = h.status
    badge.textContent = h.status
    const failing = (h.checks || [])
      .filter((c) => c.status !== 'up')
      .map((c) => `${c.name}: ${c.error || c.status}`)
    badge.title =
      [h.error, ...failing].filter(Boolean).join('\n') ||
      (h.checks || []).map((c) => `${c.name}: ${c.status}`).join('\n')
  }
}

// ---- endpoints and the call form -------------------------------------------------------------

function valueTree(value) {
  if (!value || (!value.type && !(value.values || []).length))
    return el('span', { class: 'muted', text: 'not declared' })
  const fields = value.values || []
  return el(
    'span',
    { class: 'value' },
    el('code', { class: 'type', text: value.type || '{}' }),
    fields.length
      ? el(
          'ul',
          { class: 'fields' },
          fields.map((f) =>
            el(
              'li',
              {},
              el('code', { class: 'field', text: f.name }),
              ' ',
              f.values?.length ? valueTree(f) : el('code', { class: 'type', text: f.type }),
            ),
          ),
        )
      : null,
  )
}

function endpointsBlock(service, version) {
  return el(
    'div',
    {},
    el('h4', { text: `Endpoints (${version.endpoints.length})` }),
    version.endpoints.map((ep) => endpointCard(service, version, ep)),
  )
}

function endpointCard(service, version, ep) {
  const card = el(
    'details',
    { class: 'endpoint', dataset: { endpoint: ep.name, kind: ep.kind } },
    el(
      'summary',
      {},
      el('code', { class: 'ep-name', text: ep.name }),
      ep.kind !== 'call'
        ? el('span', {
            class: `badge ${ep.kind}`,
            text: ep.kind === 'subscriber' ? `topic ${ep.metadata.topic || ''}` : 'stream',
          })
        : null,
      ep.metadata.description ? el('span', { class: 'muted desc', text: ep.metadata.description }) : null,
    ),
    el(
      'div',
      { class: 'schemas' },
      el('div', {}, el('h5', { text: 'request' }), valueTree(ep.request)),
      el('div', {}, el('h5', { text: 'response' }), valueTree(ep.response)),
    ),
  )
  if (ep.kind === 'call') card.append(callForm(service, version, ep))
  else if (ep.kind === 'stream')
    card.append(
      el('p', {
        class: 'muted',
        text: "A streaming endpoint: call it over the gateway's server-sent events or WebSocket route, or with `micro stream`.",
      }),
    )
  return card
}

/** Top-level scalar properties get a field each; the JSON below is what is sent. */
function scalarFields(schema) {
  const props = schema?.properties || {}
  return Object.entries(props)
    .filter(([, s]) => ['string', 'integer', 'number', 'boolean'].includes(s.type))
    .map(([name, s]) => ({ name, type: s.type }))
}

function template(schema) {
  const out = {}
  for (const [name, s] of Object.entries(schema?.properties || {})) {
    if (s.type === 'object') out[name] = {}
    else if (s.type === 'array') out[name] = []
  }
  return out
}

function callForm(service, version, ep) {
  const fields = scalarFields(ep.requestSchema)
  const json = el('textarea', {
    class: 'json',
    name: 'request',
    rows: 5,
    spellcheck: 'false',
    'aria-label': `${ep.name} request JSON`,
  })
  json.value = JSON.stringify(template(ep.requestSchema), null, 2)
  const inputs = fields.map((f) => {
    const input =
      f.type === 'boolean'
        ? el(
            'select',
            { name: f.name, dataset: { field: f.name, type: f.type } },
            el('option', { value: '', text: '(unset)' }),
            el('option', { value: 'true', text: 'true' }),
            el('option', { value: 'false', text: 'false' }),
          )
        : el('input', {
            name: f.name,
            type: f.type === 'string' ? 'text' : 'number',
            step: f.type === 'integer' ? '1' : 'any',
            dataset: { field: f.name, type: f.type },
            autocomplete: 'off',
          })
    input.addEventListener('input', () => {
      let body
      try {
        body = JSON.parse(json.value || '{}')
      } catch {
        body = {}
      }
      if (typeof body !== 'object' || body === null || Array.isArray(body)) body = {}
      const raw = input.value
      if (raw === '') delete body[f.name]
      else if (f.type === 'boolean') body[f.name] = raw === 'true'
      else if (f.type === 'integer' || f.type === 'number')
        body[f.name] = Number.isFinite(Number(raw)) ? Number(raw) : raw
      else body[f.name] = raw
      json.value = JSON.stringify(body, null, 2)
    })
    return el(
      'label',
      { class: 'field' },
      el('span', { text: f.name }),
      el('small', { class: 'muted', text: f.type }),
      input,
    )
  })
  json.addEventListener('input', () => {
    let body
    try {
      body = JSON.parse(json.value)
    } catch {
      json.setCustomValidity('not JSON')
      return
    }
    json.setCustomValidity('')
    for (const input of inputs.map((l) => l.querySelector('[data-field]'))) {
      const v = body && typeof body === 'object' ? body[input.dataset.field] : undefined
      input.value = v === undefined || v === null ? '' : String(v)
    }
  })
  const timeout = el('input', {
    name: 'timeout',
    placeholder: 'default',
    size: 8,
    'aria-label': 'timeout',
    autocomplete: 'off',
  })
  const node = el(
    'select',
    { name: 'address', 'aria-label': 'node' },
    el('option', { value: '', text: 'any node' }),
    version.nodes.map((n) => el('option', { value: n.address, text: n.address })),
  )
  const result = el('pre', { class: 'result', dataset: { state: 'idle' }, 'aria-live': 'polite' })
  const meta = el('span', { class: 'muted call-meta' })
  const button = el('button', { type: 'submit', text: 'Call' })
  const form = el(
    'form',
    { class: 'call', dataset: { endpoint: ep.name } },
    inputs.length ? el('div', { class: 'fields-row' }, inputs) : null,
    el('label', { class: 'json-label' }, el('span', { text: 'request JSON' }), json),
    el(
      'div',
      { class: 'actions' },
      button,
      el('label', {}, 'timeout ', timeout),
      el('label', {}, 'node ', node),
      meta,
    ),
    result,
  )
  form.addEventListener('submit', async (e) => {
    e.preventDefault()
    let request
    try {
      request = JSON.parse(json.value || '{}')
    } catch (err) {
      result.dataset.state = 'error'
      result.textContent = `The request is not JSON: ${err.message}`
      return
    }
    button.disabled = true
    result.dataset.state = 'pending'
    result.textContent = 'calling…'
    meta.textContent = ''
    try {
      const res = await fetch('api/call', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({
          service,
          endpoint: ep.name,
          request,
          timeout: timeout.value || undefined,
          address: node.value || undefined,
        }),
      })
      const answer = await res.json()
      if (answer.error || !res.ok) {
        const err = answer.error || answer
        result.dataset.state = 'error'
        result.textContent = JSON.stringify(err, null, 2)
        meta.textContent = `${err.code || res.status} ${err.status || ''}${answer.duration_ms !== undefined ? ` · ${answer.duration_ms} ms` : ''}`
      } else {
        result.dataset.state = 'ok'
        result.textContent = JSON.stringify(answer.response, null, 2)
        meta.textContent = `OK · ${answer.duration_ms} ms`
      }
    } catch (err) {
      result.dataset.state = 'error'
      result.textContent = `The gateway did not answer: ${err.message}`
    } finally {
      button.disabled = false
    }
  })
  return form
}

// ---- navigation ----------------------------------------------------------------------------

function route() {
  const hash = location.hash.replace(/^#\/?/, '')
  const name = hash ? decodeURIComponent(hash) : ''
  if (name !== state.selected) {
    state.selected = name
    $('main').replaceChildren()
    render()
    refreshHealth()
  }
}

$('filter').addEventListener('input', (e) => {
  state.filter = e.target.value
  renderSidebar()
})
window.addEventListener('hashchange', route)
route()
connect()
