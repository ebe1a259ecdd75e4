// node-oidc-provider as the benchmark's reference peer: one client_credentials client, its
// in-memory adapter, its defaults otherwise. Usage: node peer.mjs PORT CLIENT_ID CLIENT_SECRET SCOPE
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, scope] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    scope,
  }],
  scopes: ['openid', 'offline_access', ...scope.split(' ')],
  features: { clientCredentials: { enabled: true } },
});

provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`peer listening on ${issuer}`);
});
