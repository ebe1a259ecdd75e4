// A real upstream OpenID Provider for the federation tests: node-oidc-provider (OpenID certified),
// not Portcullis code. Configured from UPSTREAM_CONFIG (JSON):
//   {"port": 0, "issuer": "...", "clients": [...], "accounts": {"id": {"sub": "...", ...claims}},
//    "issuerTemplate": "/organizations/v2.0"}   // serve an Entra-style discovery with {tenantid}
// Sign-in and consent are answered by the test, not a person: POST /_test/next?account=ID picks
// who signs in at the next interaction (or ?error=access_denied ends it with that error).
import http from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(process.env.UPSTREAM_CONFIG);
let next = { account: null, error: null };

const provider = new Provider(config.issuer, {
  clients: config.clients,
  claims: {
    // amr, acr and auth_time ride with openid so the ID token says how the person signed in
    openid: ['sub', 'hd', 'tid', 'oid', 'xms_edov', 'amr', 'acr', 'auth_time'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
  },
  conformIdTokenClaims: false, // the claims go into the ID token, as Google's and Entra's do
  cookies: { keys: ['upstream-test-cookie-key'] },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  pkce: { required: () => true },
  async findAccount(ctx, id) {
    const account = config.accounts[id];
    if (!account) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...account }; } };
  },
});
provider.proxy = false;

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  if (next.error) {
    const error = next.error;
    next = { account: null, error: null };
    return provider.interactionFinished(req, res, { error, error_description: 'the test said no' });
  }
  if (details.prompt.name === 'login') {
    const accountId = next.account ?? details.params.login_hint;
    const amr = config.amr?.[accountId]; // how the upstream says the person signed in (e.g. ["pwd", "mfa"])
    return provider.interactionFinished(req, res, { login: { accountId, ...(amr ? { amr } : {}) } },
      { mergeWithLastSubmission: false });
  }
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  const missing = details.prompt.details.missingOIDCClaims;
  if (missing) grant.addOIDCClaims(missing);
  const grantId = await grant.save();
  return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

const callback = provider.callback();
const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, 'http://upstream');
    if (req.method === 'POST' && url.pathname === '/_test/next') {
      next = { account: url.searchParams.get('account'), error: url.searchParams.get('error') };
      res.writeHead(204).end();
      return;
    }
    if (url.pathname.startsWith('/interaction/')) {
      await interaction(req, res);
      return;
    }
    if (config.issuerTemplate && url.pathname === `${config.issuerTemplate}/.well-known/openid-configuration`) {
      const own = await (await fetch(`http://127.0.0.1:${server.address().port}/.well-known/openid-configuration`)).json();
      own.issuer = config.templateIssuer;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(own));
      return;
    }
    callback(req, res);
  } catch (error) {
    console.error(error);
    res.writeHead(500).end(String(error));
  }
});
server.listen(config.port ?? 0, '127.0.0.1', () => {
  console.log(`ready ${server.address().port}`);
});
