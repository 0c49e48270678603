// A local OpenID Provider for Opsledger's OIDC login tests, built on panva's certified `oidc-provider`.
//
// NOT FOR PRODUCTION: in-memory storage, test accounts from users.json, test clients from clients.json,
// plain-http issuer on a loopback address.
//
// Usage:  node server.js [--port N] [--host 127.0.0.1]
// Env:    OIDC_PORT (0 = pick a free port; default 0)      OIDC_HOST (default 127.0.0.1, loopback only)
//         OIDC_ISSUER (default http://HOST:PORT; "{port}" is replaced by the bound port)
//         OIDC_TEST_MODE=1        `login_hint=<username>` on the authorization request logs that user in
//                                 without a password (never enable outside tests)
//         OIDC_JWKS_FILE=path     private signing keys (JWKS); generated and written there if the file is absent
//         OIDC_USERS_FILE, OIDC_CLIENTS_FILE (default ./users.json, ./clients.json)
//         OIDC_CONFORM_ID_TOKEN_CLAIMS=1   only sub & co. in the ID token; profile/email/groups from userinfo
//         OIDC_EXIT_ON_STDIN_CLOSE=1       exit when stdin closes (the test harness keeps a pipe open)
// Prints one JSON line on stdout when ready: {"ready":true,"issuer":...,"port":...,"pid":...}

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';

import Provider from 'oidc-provider';

const here = (name) => new URL(name, import.meta.url);

function arg(name) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const HOST = arg('host') ?? process.env.OIDC_HOST ?? '127.0.0.1';
const PORT = Number(arg('port') ?? process.env.OIDC_PORT ?? 0);
const TEST_MODE = process.env.OIDC_TEST_MODE === '1';
const CONFORM = process.env.OIDC_CONFORM_ID_TOKEN_CLAIMS === '1';

if (!['127.0.0.1', '::1', 'localhost'].includes(HOST)) {
  console.error(`refusing to listen on ${HOST}: this test provider is for loopback only`);
  process.exit(2);
}

const { users } = JSON.parse(fs.readFileSync(process.env.OIDC_USERS_FILE ?? here('./users.json'), 'utf8'));
const { clients } = JSON.parse(fs.readFileSync(process.env.OIDC_CLIENTS_FILE ?? here('./clients.json'), 'utf8'));
const bySub = new Map(users.map((u) => [u.sub, u]));
const byName = new Map(users.map((u) => [u.username.toLowerCase(), u]));

// --- signing keys: RS256 + ES256, generated per run unless a JWKS file is given ----------------------------
function signingKeys() {
  const file = process.env.OIDC_JWKS_FILE;
  if (file && fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8'));
  const jwk = (pair, alg) => ({
    ...pair.privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid: crypto.randomBytes(8).toString('hex'),
  });
  const jwks = {
    keys: [
      jwk(crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }), 'RS256'),
      jwk(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }), 'ES256'),
    ],
  };
  if (file) fs.writeFileSync(file, JSON.stringify(jwks), { mode: 0o600 });
  return jwks;
}

// --- accounts ------------------------------------------------------------------------------------------------
async function findAccount(ctx, id) {
  const user = bySub.get(id);
  if (!user) return undefined;
  return { accountId: user.sub, claims: async () => ({ sub: user.sub, ...user.claims }) };
}

function passwordOk(user, password) {
  const a = crypto.createHash('sha256').update(String(user?.password ?? crypto.randomUUID())).digest();
  const b = crypto.createHash('sha256').update(String(password ?? '')).digest();
  return Boolean(user) && crypto.timingSafeEqual(a, b);
}

// --- configuration -------------------------------------------------------------------------------------------
const configuration = {
  clients,
  findAccount,
  jwks: signingKeys(),
  cookies: {
    keys: [process.env.OIDC_COOKIE_KEY ?? crypto.randomBytes(32).toString('hex')],
    // The default `long` cookie is SameSite=None, which browsers drop unless it is also Secure, i.e. over
    // https. Lax keeps the provider usable from a real browser on plain http://127.0.0.1.
    long: { signed: true, httpOnly: true, sameSite: 'lax' },
    short: { signed: true, httpOnly: true, sameSite: 'lax' },
  },
  claims: {
    acr: null, amr: null, auth_time: null, sid: null, iss: null,
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
    groups: ['groups', 'opsledger_role'],
  },
  conformIdTokenClaims: CONFORM,
  pkce: { methods: ['S256'], required: () => true },
  responseTypes: ['code'],
  enabledJWA: { idTokenSigningAlgValues: ['RS256', 'ES256'] },
  features: {
    devInteractions: { enabled: false }, // replaced by the small interaction below
    userinfo: { enabled: true },
    revocation: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  ttl: {
    AuthorizationCode: 60,
    IdToken: 3600,
    AccessToken: 600,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = `<!doctype html><title>error</title><h1>${escape(out.error)}</h1><p>${escape(out.error_description ?? '')}</p>`;
  },
};

function escape(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// --- interactions: a password form, test-mode auto-login, automatic consent for these first-party clients ---
function loginPage(uid, clientId, message = '') {
  return `<!doctype html><html><head><title>Sign in</title></head><body>
<h1>Sign in to continue to ${escape(clientId)}</h1>
${message ? `<p class="error">${escape(message)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login" autocomplete="off">
  <input name="username" placeholder="username" required autofocus>
  <input name="password" type="password" placeholder="password" required>
  <button type="submit">Sign in</button>
</form>
<a href="/interaction/${escape(uid)}/abort">Cancel</a>
</body></html>`;
}

async function readForm(req, limit = 8192) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > limit) throw Object.assign(new Error('body too large'), { status: 413 });
  }
  return new URLSearchParams(body);
}

function send(res, status, html) {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store', 'X-Frame-Options': 'DENY',
  });
  res.end(html);
}

async function consent(provider, req, res, details) {
  const { prompt: { details: missing }, params, session, grantId } = details;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  if (missing.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  const savedId = await grant.save();
  const result = { consent: grantId ? {} : { grantId: savedId } };
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}

async function interaction(provider, req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, 'interaction mismatch');
  const { prompt, params } = details;

  if (action === 'abort') {
    return provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
  }

  if (prompt.name === 'login') {
    if (action === 'login' && req.method === 'POST') {
      const form = await readForm(req);
      const user = byName.get(String(form.get('username') ?? '').toLowerCase());
      if (!passwordOk(user, form.get('password'))) {
        return send(res, 401, loginPage(uid, params.client_id, 'Wrong username or password.'));
      }
      return provider.interactionFinished(req, res, { login: { accountId: user.sub, amr: ['pwd'] } },
        { mergeWithLastSubmission: false });
    }
    const hinted = TEST_MODE && params.login_hint ? byName.get(String(params.login_hint).toLowerCase()) : undefined;
    if (hinted) {
      return provider.interactionFinished(req, res, { login: { accountId: hinted.sub, amr: ['test'] } },
        { mergeWithLastSubmission: false });
    }
    return send(res, 200, loginPage(uid, params.client_id));
  }

  if (prompt.name === 'consent') {
    return consent(provider, req, res, details);
  }
  return send(res, 400, `unsupported prompt ${escape(prompt.name)}`);
}

// --- server ----------------------------------------------------------------------------------------------
const server = http.createServer();
server.listen(PORT, HOST, () => {
  const { port } = server.address();
  const issuer = (process.env.OIDC_ISSUER ?? `http://${HOST.includes(':') ? `[${HOST}]` : HOST}:{port}`)
    .replace('{port}', String(port));
  const provider = new Provider(issuer, configuration);
  const handle = provider.callback();

  server.on('request', async (req, res) => {
    const m = /^\/interaction\/([\w-]+)(?:\/(login|abort))?\/?(?:\?.*)?$/.exec(req.url ?? '');
    if (!m) return handle(req, res);
    try {
      await interaction(provider, req, res, m[1], m[2]);
    } catch (err) {
      // SessionNotFound and friends: the interaction cookie is missing, expired or belongs to someone else.
      if (!res.headersSent) send(res, err.status ?? err.statusCode ?? 500, escape(err.message));
      else res.end();
    }
  });

  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  process.stdout.write(`${JSON.stringify({ ready: true, issuer, port, pid: process.pid, test_mode: TEST_MODE })}\n`);
});

for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
if (process.env.OIDC_EXIT_ON_STDIN_CLOSE === '1') {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('close', () => process.exit(0));
  process.stdin.resume();
}
